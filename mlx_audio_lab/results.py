"""Result dataclasses shared by every model family."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class RunStats:
    """Cost of one run: audio length, wall time, real-time factor and peak memory."""

    sample_rate: int
    audio_duration: float = 0.0  # seconds of audio in (STT, codecs) or out (TTS)
    processing_time: float = 0.0  # seconds of wall time
    peak_memory_mb: float = 0.0  # MLX peak memory over the run
    token_count: int = 0

    @property
    def real_time_factor(self) -> float:
        """Processing time divided by audio duration (below 1 is faster than real time)."""
        return self.processing_time / self.audio_duration if self.audio_duration > 0 else float("nan")


@dataclass
class Word:
    """One word with its time span in seconds and the model's probability of it."""

    word: str
    start: float
    end: float
    probability: float = float("nan")


@dataclass
class Segment:
    """A stretch of transcript with its time span in seconds (and its words, when the model times them)."""

    start: float
    end: float
    text: str
    tokens: list[int] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    """What an STT model returns."""

    text: str
    segments: list[Segment]
    language: str | None
    tokens: list[int]
    stats: RunStats

    @property
    def real_time_factor(self) -> float:
        return self.stats.real_time_factor

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's --json)."""
        d = asdict(self)
        d.update(d.pop("stats"))
        d["real_time_factor"] = self.real_time_factor
        return d


@dataclass
class AudioResult:
    """One chunk of generated audio (TTS) or a decoded waveform (codecs)."""

    audio: np.ndarray  # (samples,) float32
    stats: RunStats
    text: str = ""
    tokens: list[int] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return self.stats.sample_rate

    @property
    def real_time_factor(self) -> float:
        return self.stats.real_time_factor


@contextmanager
def measure(stats: RunStats):
    """Fill `processing_time` and `peak_memory_mb` of `stats` around a block."""
    import mlx.core as mx

    mx.reset_peak_memory()
    t0 = time.perf_counter()
    try:
        yield stats
    finally:
        stats.processing_time = time.perf_counter() - t0
        stats.peak_memory_mb = mx.get_peak_memory() / 2**20


@dataclass
class VADResult:
    """What a VAD model returns: speech segments in seconds and the per-window speech probabilities.

    Iterating, indexing and `len` go over `segments`, so `for start, end in model.detect(audio)` reads naturally.
    """

    segments: list[tuple[float, float]]  # (start, end) in seconds of the input clip
    probabilities: np.ndarray  # (windows,) float32, one per `window_seconds` of audio
    window_seconds: float
    stats: RunStats
    sample_spans: list[tuple[int, int]] = field(default_factory=list)  # the same segments in input samples
    options: dict[str, Any] = field(default_factory=dict)  # thresholds and durations used

    def __iter__(self):
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, i: int) -> tuple[float, float]:
        return self.segments[i]

    @property
    def sample_rate(self) -> int:
        return self.stats.sample_rate

    @property
    def speech_seconds(self) -> float:
        """Total duration of the speech segments."""
        return float(sum(e - s for s, e in self.segments))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's --json): segments as {start, end} in seconds, options, stats."""
        s = self.stats
        return {"segments": [{"start": a, "end": b} for a, b in self.segments], "sample_rate": s.sample_rate,
                "audio_duration": s.audio_duration, "speech_duration": self.speech_seconds,
                "window_seconds": self.window_seconds, "windows": int(len(self.probabilities)), **self.options,
                "processing_time": s.processing_time, "real_time_factor": s.real_time_factor,
                "peak_memory_mb": s.peak_memory_mb}
