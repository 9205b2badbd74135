"""What an ISTFT head (Vocos, iSTFTNet) predicts before the inverse STFT: magnitude, wrapped phase, and the
instantaneous frequency the phase implies (its advance per hop, against the advance of the bin's own centre)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._view import new_figure


def wrap(phase: np.ndarray) -> np.ndarray:
    """Angles folded into [-pi, pi)."""
    return (np.asarray(phase, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi


def instantaneous_frequency(phase: np.ndarray, hop: int, sample_rate: int, n_fft: int) -> np.ndarray:
    """(frames, bins) STFT phase in radians -> (frames - 1, bins) instantaneous frequency in Hz.

    Bin k's centre advances by 2 pi k hop / n_fft per hop; the wrapped excess over that is the offset from the
    centre: f = k sr / n_fft + wrap(dphi - 2 pi k hop / n_fft) sr / (2 pi hop). Unique within +-sr / (2 hop)."""
    ph = np.asarray(phase, dtype=np.float64)
    k = np.arange(ph.shape[1])
    expected = 2 * np.pi * k * hop / n_fft
    excess = wrap(np.diff(ph, axis=0) - expected)
    return k * sample_rate / n_fft + excess * sample_rate / (2 * np.pi * hop)


@dataclass
class HeadSpectra:
    """One ISTFT head's output (or an analysis STFT): (frames, bins) magnitude and phase and its STFT geometry."""

    magnitude: np.ndarray
    phase: np.ndarray
    hop: int
    sample_rate: int
    n_fft: int

    @property
    def hz(self) -> np.ndarray:
        """Centre frequency of each bin (Hz)."""
        return np.arange(self.magnitude.shape[1]) * self.sample_rate / self.n_fft

    @property
    def db(self) -> np.ndarray:
        return 20 * np.log10(np.maximum(np.asarray(self.magnitude, dtype=np.float64), 1e-8))

    def if_offset(self, floor_db: float = 50.0) -> np.ndarray:
        """(frames - 1, bins) instantaneous frequency minus the bin's centre (Hz); NaN where either frame's
        magnitude is more than `floor_db` below the loudest bin (there the phase carries no audible sound)."""
        f = instantaneous_frequency(self.phase, self.hop, self.sample_rate, self.n_fft) - self.hz
        loud = self.db > self.db.max() - floor_db
        return np.where(loud[1:] & loud[:-1], f, np.nan)


def stft_spectra(audio: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> HeadSpectra:
    """The analysis STFT (Hann, centred) of a clip as magnitude and phase: what a trained head must reproduce."""
    from .. import dsp

    spec = np.asarray(dsp.stft(np.asarray(audio, dtype=np.float32), n_fft, hop, window="hann"))
    return HeadSpectra(np.abs(spec), np.angle(spec), hop, sample_rate, n_fft)


def head_figure(s: HeadSpectra, title: str, floor_db: float = 50.0, max_hz: float | None = None):
    """Three rows on one time axis (s), frequency in Hz: magnitude (dB), wrapped phase (cyclic colours), and the
    instantaneous frequency's offset from each bin's centre (Hz; blank where the magnitude is below the floor)."""
    frames = s.magnitude.shape[0]
    t = np.arange(frames) * s.hop / s.sample_rate
    hz = s.hz
    top = max_hz or hz[-1]
    rows = hz <= top
    fig, axes = new_figure((10, 8.5), 3, 1, sharex=True)
    db = s.db[:, rows]
    im = axes[0].pcolormesh(t, hz[rows], db.T, shading="nearest", cmap="magma", vmin=db.max() - 80, vmax=db.max())
    fig.colorbar(im, ax=axes[0], pad=0.01, label="magnitude (dB)")
    axes[0].set(ylabel="frequency (Hz)", title=f"{title}\nmagnitude (dB; {frames} frames, hop {s.hop} samples, "
                f"{len(hz)} bins of {s.sample_rate / s.n_fft:.1f} Hz)")
    im = axes[1].pcolormesh(t, hz[rows], wrap(s.phase)[:, rows].T, shading="nearest", cmap="twilight",
                            vmin=-np.pi, vmax=np.pi)
    bar = fig.colorbar(im, ax=axes[1], pad=0.01, label="phase (rad)", ticks=[-np.pi, 0, np.pi])
    bar.ax.set_yticklabels(["-π", "0", "π"])
    axes[1].set(ylabel="frequency (Hz)", title="phase, wrapped to [-π, π) (a cyclic colour map: -π and π meet)")
    lim = s.sample_rate / (2 * s.hop)
    off = s.if_offset(floor_db)[:, rows]
    t_mid = (t[1:] + t[:-1]) / 2
    im = axes[2].pcolormesh(t_mid, hz[rows], off.T, shading="nearest", cmap="coolwarm", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes[2], pad=0.01, label="IF - bin centre (Hz)")
    axes[2].set(xlabel="time (s)", ylabel="frequency (Hz)",
                title=f"instantaneous frequency from the phase advance per hop, minus the bin's centre "
                f"(blank: > {floor_db:g} dB below the peak)")
    for ax in axes:
        ax.set_facecolor("0.85")
    return fig
