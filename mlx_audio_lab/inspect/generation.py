"""GenerationInspector: a timeline of one generation run (tokens, time and memory per step)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._view import Inspector, new_figure


@dataclass
class Timeline:
    """Per-step series of a run; NaN where the source does not say."""

    labels: list[str]
    tokens: np.ndarray
    seconds: np.ndarray
    memory_mb: np.ndarray
    audio_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unit: str = "step"

    @property
    def n_steps(self) -> int:
        return len(self.labels)

    @property
    def total_tokens(self) -> int:
        return int(np.nansum(self.tokens))

    @property
    def total_seconds(self) -> float:
        return float(np.nansum(self.seconds))

    @property
    def peak_memory_mb(self) -> float:
        m = self.memory_mb[np.isfinite(self.memory_mb)]
        return float(m.max()) if m.size else float("nan")


def timeline(run: Any) -> Timeline:
    """A Timeline from decoder steps (`DecodeStep` list), TTS chunks (`AudioResult` list), `RunStats` list,
    or a `Transcript` (one step per segment; its time is the run's, spread by token count)."""
    from ..results import AudioResult, RunStats, Transcript
    from .tokens import DecodeStep

    if isinstance(run, Transcript):
        segs = run.segments
        tok = np.array([len(s.tokens) for s in segs], dtype=float)
        share = tok / tok.sum() if tok.sum() else np.full(len(segs), 1.0 / max(len(segs), 1))
        return Timeline([f"{s.start:.1f}-{s.end:.1f} s" for s in segs], tok, share * run.stats.processing_time,
                        np.full(len(segs), run.stats.peak_memory_mb),
                        np.array([s.end - s.start for s in segs], dtype=float), "segment")
    items: Sequence[Any] = list(run)
    if not items:
        raise ValueError("empty run: nothing to put on a timeline")
    if all(isinstance(s, DecodeStep) for s in items):
        return Timeline([s.label for s in items], np.ones(len(items)), np.array([s.seconds for s in items]),
                        np.array([s.memory_mb for s in items]), unit="token")
    stats = [s.stats if isinstance(s, AudioResult) else s for s in items]
    if not all(isinstance(s, RunStats) for s in stats):
        raise TypeError(f"cannot make a timeline of {type(items[0]).__name__} items")
    return Timeline([f"chunk {i}" for i in range(len(stats))], np.array([s.token_count for s in stats], float),
                    np.array([s.processing_time for s in stats]), np.array([s.peak_memory_mb for s in stats]),
                    np.array([s.audio_duration for s in stats]), "chunk")


def timeline_figure(t: Timeline, selected: int | None = None):
    """Tokens, time (ms) and memory (MB) per step, stacked; 3 axes."""
    fig, axes = new_figure((10, 6), 3, 1, sharex=True)
    x = np.arange(t.n_steps)
    axes[0].bar(x, t.tokens, color="tab:blue")
    axes[0].set(ylabel="tokens", title=f"{t.n_steps} {t.unit}s, {t.total_tokens} tokens")
    axes[1].bar(x, t.seconds * 1e3, color="tab:green")
    axes[1].set(ylabel="time (ms)")
    if t.audio_seconds.size:
        axes[1].plot(x, t.audio_seconds * 1e3, "k_", markersize=12, label="audio produced (ms)")
        axes[1].legend(fontsize=8)
    axes[2].plot(x, t.memory_mb, "o-", color="tab:purple", ms=3)
    axes[2].set(ylabel="memory (MB)", xlabel=t.unit)
    axes[2].ticklabel_format(axis="y", useOffset=False, style="plain")
    if t.n_steps <= 60:
        axes[2].set_xticks(x, t.labels, rotation=70, fontsize=7)
    if selected is not None:
        for ax in axes:
            ax.axvline(selected, color="tab:red", lw=1)
    return fig


class GenerationInspector(Inspector):
    """`GenerationInspector(steps_or_chunks_or_transcript)`: the timeline, a step slider with its numbers."""

    css_class = "mal-generation-inspector"

    def __init__(self, run: Any):
        super().__init__()
        self.timeline = run if isinstance(run, Timeline) else timeline(run)
        self.selected = 0

    def figure(self):
        return timeline_figure(self.timeline, self.selected)

    def summary(self) -> str:
        t = self.timeline
        out = f"GenerationInspector: {t.n_steps} {t.unit}s"
        if t.unit != "token":
            out += f", {t.total_tokens} tokens"
        if t.audio_seconds.size:
            out += f", {float(np.sum(t.audio_seconds)):.2f} s of audio"
        return out

    def status(self) -> str:
        t, i = self.timeline, self.selected
        return (f"{t.unit} {i} ({t.labels[i]}): {t.tokens[i]:.0f} tokens, {t.seconds[i] * 1e3:.1f} ms, "
                f"{t.memory_mb[i]:.0f} MB")

    def _controls(self) -> list:
        return [self._step_slider(self.timeline.n_steps, self.timeline.unit)]
