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
    """Time (ms) and MLX active memory (MB) per step; for chunks/segments also tokens per step on top."""
    per_token = t.unit == "token"  # one token per step: a "tokens" panel would be a row of ones
    fig, axes = new_figure((10, 4.5 if per_token else 6), 2 if per_token else 3, 1, sharex=True)
    x = np.arange(t.n_steps)
    if not per_token:
        axes[0].bar(x, t.tokens, color="tab:blue")
        axes[0].set(ylabel="tokens")
    ax_t, ax_m = axes[-2], axes[-1]
    ms = t.seconds * 1e3
    ax_t.bar(x, ms, color="tab:green")
    ax_t.set(ylabel="time (ms)")
    if ms.size and ms.min() > 0 and ms.max() / ms.min() > 20:  # one slow step (e.g. the first) would flatten the rest
        ax_t.set_yscale("log")
    if t.audio_seconds.size:
        ax_t.plot(x, t.audio_seconds * 1e3, "k_", markersize=12, label="audio produced (ms)")
        ax_t.legend(fontsize=8)
    what = (f"{t.n_steps} decoding steps (one token each)" if per_token
            else f"{t.n_steps} {t.unit}s, {t.total_tokens} tokens")
    per = "step" if per_token else t.unit  # name the x axis's unit (a chunk is not a decoding step)
    axes[0].set_title(f"{what}: wall time (this machine) and MLX active memory per {per}")
    ax_m.plot(x, t.memory_mb, "o-", color="tab:purple", ms=3)
    ax_m.set(ylabel="active memory (MB)", xlabel=t.unit)
    ax_m.ticklabel_format(axis="y", useOffset=False, style="plain")
    if t.memory_mb.size and np.ptp(t.memory_mb) < 1.0:  # flat to the MB: say so rather than magnify rounding
        mid = float(np.median(t.memory_mb))
        ax_m.set_ylim(mid - 10, mid + 10)
        ax_m.yaxis.set_major_formatter("{x:.0f}")
    if t.n_steps <= 60:
        ax_m.set_xticks(x, t.labels, rotation=70, fontsize=7)
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


# ---------------------------------------------------------------- sampling: candidates per processor, code grid
@dataclass
class StageCandidates:
    """The top candidates of one processing stage ("raw", "temperature", "top_k", ...) at one step."""

    stage: str
    tokens: np.ndarray  # (k,) ids, most probable first
    probs: np.ndarray  # (k,) probabilities after this stage
    kept: int  # tokens still possible (probability > 0)
    chosen_prob: float  # probability of the token finally chosen


@dataclass
class SamplingStep:
    index: int
    chosen: int
    stages: list[StageCandidates]


@dataclass
class SamplingTrace:
    """Per-step candidates and the codebook x frame grid filled by the run (-1 where nothing was written)."""

    steps: list[SamplingStep]
    grid: np.ndarray  # (rows, frames) int codes
    filled_at: np.ndarray  # (rows, frames) step that wrote each cell, -1 if none
    frame_seconds: float = 1.0

    def grid_at(self, step: int) -> np.ndarray:
        """The grid as it stood after `step`: cells written later are -1."""
        return np.where((self.filled_at >= 0) & (self.filled_at <= step), self.grid, -1)


def stage_candidates(stage: str, logits: np.ndarray, chosen: int, k: int = 5) -> StageCandidates:
    """Softmax of one stage's logits (V,) (row 0 of a batch) -> its top-k and the chosen token's probability."""
    x = np.asarray(logits, dtype=np.float64).reshape(-1, np.shape(logits)[-1])[0]
    p = np.exp(x - x.max())
    p /= p.sum()
    top = np.argsort(-p, kind="stable")[:k]
    return StageCandidates(stage, top, p[top], int((p > 0).sum()), float(p[chosen]))


def sampling_trace(steps, rows: int, cell, k: int = 5, frame_seconds: float = 1.0) -> SamplingTrace:
    """From traced `generation.Step`s (consumed as they stream): candidates per stage and the code grid.

    `cell(i, token) -> (row, frame, code) | None` places output token i in the grid (a port's token layout).
    """
    out, cells = [], []
    for i, s in enumerate(steps):
        out.append(SamplingStep(s.index, s.token, [stage_candidates(n, v, s.token, k) for n, v in s.stages]))
        c = cell(i, s.token)
        if c is not None:
            cells.append((*c, i))
    frames = max((c[1] for c in cells), default=-1) + 1
    grid, filled = np.full((rows, frames), -1, np.int64), np.full((rows, frames), -1, np.int64)
    for r, f, code, i in cells:
        grid[r, f], filled[r, f] = code, i
    return SamplingTrace(out, grid, filled, frame_seconds)


def sampling_figure(trace: SamplingTrace, step: int, labels: list[str] | None = None):
    """Left: top candidates after each stage at `step` (chosen in red); right: the code grid up to `step`."""
    s = trace.steps[step]
    fig, (ax, gx) = new_figure((11, 4), 1, 2, width_ratios=[1, 1.4])
    n_stage, k = len(s.stages), max(len(c.tokens) for c in s.stages)
    width = 0.8 / max(n_stage, 1)
    for j, c in enumerate(s.stages):
        x = np.arange(len(c.tokens)) + j * width
        colors = ["tab:red" if t == s.chosen else f"C{j}" for t in c.tokens]
        ax.bar(x, c.probs, width, color=colors, edgecolor=f"C{j}", label=f"{c.stage} ({c.kept} left)")
        for xi, t in zip(x, c.tokens):
            ax.text(xi, 0.01, str(labels[t] if labels else t), rotation=90, fontsize=6, va="bottom", ha="center")
    ax.set(xticks=np.arange(k) + 0.4, xticklabels=[f"#{i + 1}" for i in range(k)], ylim=(0, 1.05),
           xlabel="candidate rank (after each stage)", ylabel="probability",
           title=f"step {s.index}: chose {labels[s.chosen] if labels else s.chosen}")
    ax.legend(fontsize=7)
    grid = trace.grid_at(step).astype(float)
    grid[grid < 0] = np.nan
    frames = trace.grid.shape[1]
    im = gx.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis",
                   extent=(0, frames * trace.frame_seconds, trace.grid.shape[0] - 0.5, -0.5))
    fig.colorbar(im, ax=gx, label="code")
    gx.set(xlabel="time (s)", ylabel="codebook row", title=f"codes written up to step {s.index}")
    return fig


class SamplingInspector(Inspector):
    """`SamplingInspector(trace)`: per step the candidates before/after each processor and the filling code grid."""

    css_class = "mal-sampling-inspector"

    def __init__(self, trace: SamplingTrace, labels: list[str] | None = None, step: int | None = None):
        super().__init__()
        self.trace, self.labels = trace, labels
        self.selected = len(trace.steps) - 1 if step is None else step

    @classmethod
    def from_orpheus(cls, model, text: str, voice: str | None = None, k: int = 5, step: int | None = None,
                     **options) -> SamplingInspector:
        """An Orpheus run (`seed`, `max_frames`, sampling options as `generate` takes them), traced."""
        from ..models.tts.orpheus.generate import traced_steps
        from ..models.tts.orpheus.layout import SLOTS

        cfg = model.codec.config
        trace = sampling_trace(traced_steps(model, text, voice, **options), SLOTS, model.layout.cell, k,
                               cfg.hop_length * cfg.vq_strides[0] / cfg.sampling_rate)
        return cls(trace, step=step)

    @classmethod
    def from_outetts(cls, model, text: str, voice=None, k: int = 5, step: int | None = None,
                     **options) -> SamplingInspector:
        """An OuteTTS run (`seed`, `max_frames`, sampling options as `generate` takes them), traced; rows c1, c2."""
        from ..models.tts.outetts.generate import traced_steps

        cfg = model.codec.config
        trace = sampling_trace(traced_steps(model, text, voice, **options), 2, model.audio_tokens.placer(), k,
                               cfg.hop_length / cfg.sampling_rate)
        return cls(trace, step=step)

    def figure(self):
        return sampling_figure(self.trace, self.selected, self.labels)

    def summary(self) -> str:
        t = self.trace
        filled = int((t.filled_at >= 0).sum())
        stages = " -> ".join(c.stage for c in t.steps[0].stages) if t.steps else ""
        return (f"SamplingInspector: {len(t.steps)} steps ({stages}), grid {t.grid.shape[0]} x {t.grid.shape[1]} "
                f"frames, {filled} cells written")

    def status(self) -> str:
        s = self.trace.steps[self.selected]
        probs = ", ".join(f"{c.stage} {c.chosen_prob:.2f}" for c in s.stages)
        return f"step {s.index}: token {s.chosen}; its probability per stage: {probs}"

    def _controls(self) -> list:
        return [self._step_slider(len(self.trace.steps))]
