"""Whisper on the speech spans only (`transcribe --vad`, faster-whisper's vad_filter): times mapped back onto the
clip, and on a clip with long pauses the same words as the plain transcription."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlx_audio_lab.models.vad.transcribe import SpanMap
from mlx_audio_lab.results import Segment, Word


def test_span_map_shifts_times_onto_the_original_clip():
    spans = [(16000, 48000), (80000, 96000)]  # 1-3 s and 5-6 s: joined, 0-2 s and 2-3 s
    m = SpanMap(spans, 16000)
    assert m.original_time(0.0) == 1.0 and m.original_time(1.5) == 2.5
    assert m.original_time(2.0) == 5.0 and m.original_time(2.0, is_end=True) == 3.0  # a join: start vs end
    assert m.original_time(2.5) == 5.5 and m.original_time(3.0, is_end=True) == 6.0
    seg = m.segment(Segment(0.5, 2.5, "a b", words=[Word("a", 0.5, 2.0), Word("b", 2.0, 2.5)]))
    assert (seg.start, seg.end) == (1.5, 5.5)
    assert [(w.start, w.end) for w in seg.words] == [(1.5, 3.0), (5.0, 5.5)]


@pytest.mark.slow
def test_vad_transcription_on_long_pauses_keeps_the_words(espeak, tmp_path, capsys):
    import mlx_audio_lab
    from mlx_audio_lab.audio import save_audio
    from mlx_audio_lab.cli import main
    from mlx_audio_lab.fixtures.speech import speech_with_pauses
    from mlx_audio_lab.metrics import normalize_words

    clip = speech_with_pauses(("Please call me back tomorrow morning.", "Thank you very much for your help."),
                              16000, pause=4.0)  # 17 s, 12 s of it silence and noise
    path = save_audio(tmp_path / "pauses.wav", clip, 16000)
    plain = mlx_audio_lab.load("whisper-tiny.en").transcribe(clip, beam_size=1)
    assert main(["transcribe", "--model", "whisper-tiny.en", "--beam-size", "1", "--vad", "--json", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)
    spans = got["speech_spans"]
    assert len(spans) == 2 and sum(b - a for a, b in spans) < 0.5 * len(clip) / 16000  # the pauses are skipped
    assert normalize_words(got["text"]) == normalize_words(plain.text)
    assert got["segments"]
    for s in got["segments"]:  # every time lands inside a transcribed speech span (Whisper's 20 ms steps)
        for t in (s["start"], s["end"]):
            assert any(a - 0.02 <= t <= b + 0.02 for a, b in spans), (t, spans)
    vad = mlx_audio_lab.load("silero-vad").detect(clip, min_silence_duration_ms=2000, speech_pad_ms=400,
                                                  min_speech_duration_ms=0)
    assert np.allclose(spans, vad.segments)
