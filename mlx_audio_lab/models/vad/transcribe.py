"""Speech recognition on the speech only, as faster-whisper's `vad_filter` does: a VAD finds the speech spans,
they are cut out and joined, the joined clip is transcribed, and every time is shifted back onto the clip."""

from __future__ import annotations

import bisect
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...audio import load_audio
from ...results import RunStats, Segment, Transcript, measure

SAMPLE_RATE = 16000
# faster-whisper's VadOptions defaults for vad_filter (longer pads and silences than get_speech_timestamps').
FASTER_WHISPER_VAD = dict(threshold=0.5, min_speech_duration_ms=0, min_silence_duration_ms=2000, speech_pad_ms=400)


class SpanMap:
    """Times on the joined speech -> times on the original clip, given the spans (samples) that were joined."""

    def __init__(self, spans: list[tuple[int, int]], sample_rate: int = SAMPLE_RATE):
        self.sample_rate = sample_rate
        self.joined_ends, self.shift = [], []  # per span: its end on the joined clip, its shift (samples)
        joined = 0
        for start, end in spans:
            self.shift.append(start - joined)
            joined += end - start
            self.joined_ends.append(joined)

    def original_time(self, t: float, is_end: bool = False) -> float:
        """Seconds on the joined clip -> seconds on the original; an end exactly at a join stays in its span."""
        sample = int(round(t * self.sample_rate))
        k = bisect.bisect_left(self.joined_ends, sample) if is_end else bisect.bisect_right(self.joined_ends, sample)
        k = min(k, len(self.shift) - 1)
        return (sample + self.shift[k]) / self.sample_rate

    def segment(self, s: Segment) -> Segment:
        words = [replace(w, start=self.original_time(w.start), end=self.original_time(w.end, True))
                 for w in s.words]
        return replace(s, start=self.original_time(s.start), end=self.original_time(s.end, True), words=words)


def transcribe_speech(stt: Any, vad: Any, audio: np.ndarray | str | Path, vad_options: dict | None = None,
                      **options: Any) -> Transcript:
    """`stt.transcribe` over the speech spans `vad.detect` finds (faster-whisper's defaults unless
    `vad_options`), with segment and word times on the original clip. `options` go to `stt.transcribe`."""
    stats = RunStats(sample_rate=SAMPLE_RATE)
    with measure(stats):
        wav = load_audio(audio, SAMPLE_RATE)
        stats.audio_duration = len(wav) / SAMPLE_RATE
        found = vad.detect(wav, SAMPLE_RATE, **(FASTER_WHISPER_VAD if vad_options is None else vad_options))
        spans = found.sample_spans
        if not spans:
            return Transcript("", [], None, [], stats)
        speech = np.concatenate([wav[a:b] for a, b in spans])
        result = stt.transcribe(speech, **options)
        spans_map = SpanMap(spans)
        segments = [spans_map.segment(s) for s in result.segments]
    stats.token_count = result.stats.token_count
    out = Transcript(result.text, segments, result.language, result.tokens, stats)
    out.speech_spans = [(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in spans]  # what was transcribed
    return out


__all__ = ["FASTER_WHISPER_VAD", "SpanMap", "transcribe_speech"]
