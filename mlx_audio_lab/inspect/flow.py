"""Views of token-to-wave stages (Chatterbox / CosyVoice's S3Gen): the flow-matching trajectory of a mel, an
iSTFT head's magnitude and phase, and a stream of speech tokens. Each returns its matplotlib Figure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..dsp import hz_to_mel, mel_to_hz
from ._view import new_figure


def mel_centers_hz(n_mels: int = 80, f_max: float = 8000.0, f_min: float = 0.0, scale: str = "slaney") -> np.ndarray:
    """Centre frequency (Hz) of each band of a mel filter bank."""
    edges = np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2)
    return np.asarray(mel_to_hz(edges, scale))[1:-1]


def trajectory_figure(mels: Sequence[np.ndarray], times: Sequence[float], frame_seconds: float = 0.02,
                      f_max: float = 8000.0, title: str = "flow matching: the mel along the ODE"):
    """One panel per (frames, bins) mel, labelled with its ODE time t; shared colour scale (log-mel)."""
    mels = [np.asarray(m) for m in mels]
    hz = mel_centers_hz(mels[0].shape[1], f_max)
    lo, hi = min(float(m.min()) for m in mels), max(float(m.max()) for m in mels)
    fig, axes = new_figure((3 * len(mels) + 1, 3.2), 1, len(mels), sharey=True)
    axes = np.atleast_1d(axes)[None]
    for ax, m, t in zip(axes[0], mels, times):
        x = np.arange(m.shape[0]) * frame_seconds
        im = ax.pcolormesh(x, hz, m.T, shading="nearest", vmin=lo, vmax=hi, cmap="magma")
        ax.set(xlabel="time (s)", title=f"t = {t:.2f}")
    axes[0][0].set_ylabel("frequency (Hz)")
    fig.colorbar(im, ax=list(axes[0]), pad=0.01, label="log-mel")
    fig.suptitle(title)
    return fig


def magnitude_phase_figure(magnitude: np.ndarray, phase: np.ndarray, hop_seconds: float, sample_rate: int,
                           title: str = "iSTFT head: predicted magnitude and phase"):
    """(frames, bins) magnitude (shown in dB) and phase (radians) over time and frequency (Hz)."""
    mag, ph = np.asarray(magnitude), np.asarray(phase)
    hz = np.linspace(0, sample_rate / 2, mag.shape[1])
    x = np.arange(mag.shape[0]) * hop_seconds
    fig, axes = new_figure((10, 5), 2, 1, sharex=True)
    im = axes[0].pcolormesh(x, hz, 20 * np.log10(np.maximum(mag.T, 1e-8)), shading="nearest", cmap="magma")
    fig.colorbar(im, ax=axes[0], pad=0.01, label="magnitude (dB)")
    axes[0].set(ylabel="frequency (Hz)", title=title)
    lim = max(float(np.abs(ph).max()), 1e-6)  # the colour range the phases use (HiFT's stay within +-1 rad)
    im = axes[1].pcolormesh(x, hz, ph.T, shading="nearest", cmap="twilight_shifted", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes[1], pad=0.01, label="phase (rad)")
    axes[1].set(xlabel="time (s)", ylabel="frequency (Hz)")
    return fig


def token_stream_figure(tokens: np.ndarray, frame_seconds: float = 0.04, special_from: int = 6561,
                        title: str = "speech tokens as generated"):
    """Token id per step over time; ids >= `special_from` (start / stop / unused) marked apart."""
    t = np.asarray(tokens).reshape(-1)
    x = np.arange(t.size) * frame_seconds
    special = t >= special_from
    fig, ax = new_figure((10, 3))
    ax.plot(x[~special], t[~special], "o", ms=4, label="S3 speech token (kept)")
    ax.plot(x[special], t[special], "x", ms=6, color="tab:red", label=f"id >= {special_from} (dropped)")
    ax.axhline(special_from - 0.5, color="gray", lw=0.8, ls="--")
    ax.set(xlabel="time (s) at 25 tokens/s", ylabel="token id", title=title)
    ax.legend(loc="upper right", fontsize=8)
    return fig
