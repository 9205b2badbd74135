"""Static matplotlib views used by notebooks and inspectors (each returns its Figure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _fig(figsize):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def spectrogram(features: np.ndarray, frame_seconds: float = 0.01, title: str = "log-mel spectrogram",
                ylabel: str = "mel bin", figsize=(10, 3)):
    """Plot (frames, bins) features as an image with time in seconds on x."""
    fig, ax = _fig(figsize)
    f = np.asarray(features)
    im = ax.imshow(f.T, origin="lower", aspect="auto", interpolation="nearest",
                   extent=(0, f.shape[0] * frame_seconds, 0, f.shape[1]))
    ax.set(xlabel="time (s)", ylabel=ylabel, title=title)
    fig.colorbar(im, ax=ax, pad=0.01)
    fig.tight_layout()
    return fig


def attention(weights: np.ndarray, labels: Sequence[str], seconds_per_position: float = 0.02,
              title: str = "cross attention", figsize=(10, 4)):
    """Plot (tokens, positions) attention with token labels on y and time on x."""
    fig, ax = _fig(figsize)
    w = np.asarray(weights)
    ax.imshow(w, aspect="auto", interpolation="nearest", cmap="magma",
              extent=(0, w.shape[1] * seconds_per_position, len(labels) - 0.5, -0.5))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set(xlabel="time (s)", title=title)
    fig.tight_layout()
    return fig


def codes(grid: np.ndarray, frame_seconds: float, title: str = "codes (codebook x time)", figsize=(10, 3)):
    """Plot a (codebooks, frames) integer code grid."""
    fig, ax = _fig(figsize)
    g = np.asarray(grid)
    im = ax.imshow(g, aspect="auto", interpolation="nearest", cmap="tab20",
                   extent=(0, g.shape[1] * frame_seconds, g.shape[0] - 0.5, -0.5))
    ax.set(xlabel="time (s)", ylabel="codebook", title=title)
    fig.colorbar(im, ax=ax, pad=0.01)
    fig.tight_layout()
    return fig


def parity_bars(report, figsize=(10, 3)):
    """Max-abs error per layer against its tolerance (log scale), the first divergence in red."""
    fig, ax = _fig(figsize)
    names = [r.name for r in report.layers]
    errs = [max(r.max_abs, 1e-12) for r in report.layers]
    colors = ["tab:blue" if r.ok else "tab:red" for r in report.layers]
    ax.bar(range(len(names)), errs, color=colors)
    ax.plot(range(len(names)), [r.tol for r in report.layers], "k_", markersize=14, label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="max |MLX - PyTorch|", title=f"parity: {report.model}")
    ax.legend()
    fig.tight_layout()
    return fig
