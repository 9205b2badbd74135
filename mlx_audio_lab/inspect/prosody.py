"""What a duration-based TTS decides before it makes sound: phoneme durations, the alignment they imply, F0, energy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._view import new_figure


def alignment_matrix(durations: Sequence[int]) -> np.ndarray:
    """Durations (T,) in frames -> the hard (T, frames) alignment: phoneme t covers durations[t] frames."""
    d = np.asarray(durations, dtype=int)
    owner = np.repeat(np.arange(len(d)), d)
    return (owner[None, :] == np.arange(len(d))[:, None]).astype(np.float32)


def prosody_figure(durations: Sequence[int], f0: np.ndarray, energy: np.ndarray, labels: Sequence[str],
                   frame_seconds: float, title: str = "prosody", voiced_hz: float = 10.0):
    """Four rows on one time axis (s): each phoneme's span (durations as labelled bars), the hard alignment
    (phoneme x time), F0 in Hz (unvoiced frames left blank) and energy; F0/energy may run at a multiple of the
    frame rate (Kokoro: 2x)."""
    d = np.asarray(durations, dtype=int)
    f0, energy = np.asarray(f0, dtype=np.float64), np.asarray(energy, dtype=np.float64)
    total = d.sum() * frame_seconds
    fig, axes = new_figure((10, 8), 4, 1, sharex=True, height_ratios=[1, 1.6, 1, 1])
    starts = np.concatenate([[0], np.cumsum(d)[:-1]]) * frame_seconds
    ax = axes[0]
    ax.bar(starts, d * frame_seconds * 1e3, width=d * frame_seconds, align="edge", color="tab:blue", ec="w")
    for s, n, lab in zip(starts, d, labels):
        ax.text(s + n * frame_seconds / 2, n * frame_seconds * 1e3, lab, ha="center", va="bottom", fontsize=7,
                rotation=90)
    ax.set_ylim(0, d.max() * frame_seconds * 1e3 * 1.35)
    ax.set(ylabel="duration (ms)", title=f"{title}: {len(d)} tokens over {total:.2f} s "
           f"({1 / frame_seconds:g} frames/s)")
    aln = alignment_matrix(d)
    axes[1].imshow(aln, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1,
                   extent=(0, total, len(d) - 0.5, -0.5))
    axes[1].set(ylabel="token index", title="hard alignment (black: the frames a token's features are copied to)")
    t = (np.arange(len(f0)) + 0.5) * total / max(len(f0), 1)
    voiced = np.where(f0 > voiced_hz, f0, np.nan)
    axes[2].plot(t, voiced, color="tab:red", lw=1.2)
    axes[2].set(ylabel="F0 (Hz)", title=f"pitch (F0), voiced {np.mean(f0 > voiced_hz):.0%} of frames; "
                "blank where F0 <= 10 Hz (unvoiced)")
    axes[3].plot(t, energy, color="tab:green", lw=1.2)
    axes[3].set(ylabel="energy (model units)", xlabel="time (s)",
                title="energy: the predictor's loudness curve (Kokoro's N; a learned scale, not a physical unit)")
    return fig
