"""Per-window speech probabilities -> speech segments, by the rules of silero-vad's `get_speech_timestamps`.

Hysteresis: speech starts at a window whose probability reaches `threshold` and ends once it stays below
`neg_threshold` (default threshold - 0.15) for `min_silence_duration_ms`; segments shorter than
`min_speech_duration_ms` are dropped, longer than `max_speech_duration_s` are cut (at the longest silence seen
inside them, else at the last one, else right there), and every segment is padded by `speech_pad_ms`
(halving the gap when two pads would overlap). Same defaults, same sample positions as the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class VADOptions:
    """The reference's thresholds and durations (its defaults)."""

    threshold: float = 0.5
    min_speech_duration_ms: float = 250
    max_speech_duration_s: float = math.inf
    min_silence_duration_ms: float = 100
    speech_pad_ms: float = 30
    neg_threshold: float | None = None
    min_silence_at_max_speech: float = 98
    use_max_poss_sil_at_max_speech: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["max_speech_duration_s"] = None if math.isinf(self.max_speech_duration_s) else self.max_speech_duration_s
        return d


def speech_spans(probs: Sequence[float], sample_rate: int, window: int, audio_samples: int | None = None,
                 options: VADOptions | None = None) -> list[tuple[int, int]]:
    """Speech segments as (start, end) sample positions at `sample_rate` from one probability per `window`."""
    o = options or VADOptions()
    n_audio = len(probs) * window if audio_samples is None else audio_samples
    min_speech = sample_rate * o.min_speech_duration_ms / 1000
    pad = sample_rate * o.speech_pad_ms / 1000
    max_speech = sample_rate * o.max_speech_duration_s - window - 2 * pad
    min_silence = sample_rate * o.min_silence_duration_ms / 1000
    min_silence_at_max = sample_rate * o.min_silence_at_max_speech / 1000
    low = max(o.threshold - 0.15, 0.01) if o.neg_threshold is None else o.neg_threshold

    spans: list[list[int]] = []
    start: int | None = None  # start of the open segment (None: in silence)
    silence_from = 0  # first sample of the silence running inside a segment (0: none)
    last_end = next_start = 0  # a cut point remembered for max-length segments (legacy rule)
    silences: list[tuple[int, int]] = []  # (where, how long) of silences inside the open segment

    def close(end: int) -> None:
        spans.append([start, end])

    for i, p in enumerate(probs):
        here = window * i
        if p >= o.threshold and silence_from:
            gap = here - silence_from
            if gap > min_silence_at_max:
                silences.append((silence_from, gap))
            silence_from = 0
            if next_start < last_end:
                next_start = here
        if p >= o.threshold and start is None:
            start = here
            continue
        if start is not None and here - start > max_speech:
            if o.use_max_poss_sil_at_max_speech and silences:
                where, gap = max(silences, key=lambda s: s[1])
                close(where)
                resume = where + gap
                start = resume if resume < where + here else None
                last_end = next_start = silence_from = 0
                silences = []
            elif last_end:
                close(last_end)
                start = None if next_start < last_end else next_start
                last_end = next_start = silence_from = 0
                silences = []
            else:
                close(here)
                start, last_end, next_start, silence_from, silences = None, 0, 0, 0, []
                continue
        if p < low and start is not None:
            if not silence_from:
                silence_from = here
            quiet = here - silence_from
            if not o.use_max_poss_sil_at_max_speech and quiet > min_silence_at_max:
                last_end = silence_from
            if quiet < min_silence:
                continue
            if silence_from - start > min_speech:
                close(silence_from)
            start, last_end, next_start, silence_from, silences = None, 0, 0, 0, []
            continue

    if start is not None and n_audio - start > min_speech:
        close(n_audio)

    for k, span in enumerate(spans):  # pad both sides; split the gap when two pads would meet
        if k == 0:
            span[0] = int(max(0, span[0] - pad))
        if k + 1 < len(spans):
            gap = spans[k + 1][0] - span[1]
            if gap < 2 * pad:
                span[1] += int(gap // 2)
                spans[k + 1][0] = int(max(0, spans[k + 1][0] - gap // 2))
            else:
                span[1] = int(min(n_audio, span[1] + pad))
                spans[k + 1][0] = int(max(0, spans[k + 1][0] - pad))
        else:
            span[1] = int(min(n_audio, span[1] + pad))
    return [(int(a), int(b)) for a, b in spans]
