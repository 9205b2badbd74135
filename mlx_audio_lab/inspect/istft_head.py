"""How an ISTFT head (Vocos) turns its Linear's output into a spectrum: the first half of each frame's outputs is a
log-magnitude m, the spectrum's magnitude is min(exp(m), ceiling); the second half is an angle p of any size, and
cos p + i sin p puts it on the unit circle, so every real number is a valid phase."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from ._view import new_figure


@dataclass
class HeadMechanism:
    """(frames, bins) log-magnitude and angle as the head's Linear predicts them, with its STFT geometry."""

    log_magnitude: np.ndarray
    angle: np.ndarray
    hop: int
    sample_rate: int
    n_fft: int
    ceiling: float = 100.0  # Vocos clips the magnitude at 1e2

    @classmethod
    def from_linear(cls, out: np.ndarray, hop: int, sample_rate: int, n_fft: int,
                    ceiling: float = 100.0) -> HeadMechanism:
        """The Linear's (frames, n_fft + 2) output -> its two halves, (frames, n_fft // 2 + 1) each."""
        out = np.asarray(out, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != n_fft + 2:
            raise ValueError(f"expected (frames, {n_fft + 2}) head outputs, got {out.shape}")
        half = out.shape[1] // 2
        return cls(out[:, :half], out[:, half:], hop, sample_rate, n_fft, ceiling)

    @property
    def magnitude(self) -> np.ndarray:
        return np.minimum(np.exp(self.log_magnitude), self.ceiling)

    @property
    def clipped(self) -> np.ndarray:
        """Where exp(m) passed the ceiling (the magnitude is the ceiling there)."""
        return self.log_magnitude > np.log(self.ceiling)

    @property
    def phase(self) -> np.ndarray:
        """The angle of cos p + i sin p, in (-pi, pi]: p modulo 2 pi."""
        return np.arctan2(np.sin(self.angle), np.cos(self.angle))

    @property
    def spectrum(self) -> np.ndarray:
        """The complex STFT the inverse STFT receives."""
        return self.magnitude * (np.cos(self.angle) + 1j * np.sin(self.angle))

    @property
    def hz(self) -> np.ndarray:
        return np.arange(self.log_magnitude.shape[1]) * self.sample_rate / self.n_fft

    @property
    def seconds(self) -> np.ndarray:
        return np.arange(self.log_magnitude.shape[0]) * self.hop / self.sample_rate


def _image(fig, ax, h: HeadMechanism, values: np.ndarray, label: str, title: str, **kw):
    im = ax.pcolormesh(h.seconds, h.hz, values.T, shading="nearest", **kw)
    bar = fig.colorbar(im, ax=ax, pad=0.01, label=label)
    ax.set(ylabel="frequency (Hz)", title=title)
    return bar


def head_mechanism_figure(h: HeadMechanism, title: str, max_points: int = 4000, seed: int = 0):
    """Left, on one time axis (s) and frequency (Hz): the magnitude min(e^m, ceiling) in dB, the predicted angle p
    (rad) and the phase it gives (rad, cyclic colours). Right: the elementwise step of each row, with the predicted
    values on it."""
    fig, axes = new_figure((12, 8), 3, 2, gridspec_kw={"width_ratios": [3, 1]})
    fig.suptitle("\n".join(textwrap.wrap(title, 110)))
    left, right = axes[:, 0], axes[:, 1]
    for ax in left[1:]:
        ax.sharex(left[0])
    top_db = 20 * np.log10(h.ceiling)
    mag_db = 20 * np.log10(np.maximum(h.magnitude, 1e-12))
    lo = min(np.percentile(mag_db, 1), top_db - 60)
    _image(fig, left[0], h, mag_db, "|S| (dB)", f"magnitude |S| = min(e^m, {h.ceiling:g}), m = the Linear's first "
           f"{h.log_magnitude.shape[1]} outputs per frame\n(ceiling {top_db:g} dB, reached by {h.clipped.mean():.0%} "
           "of bins)", cmap="magma", vmin=lo, vmax=top_db)
    p_lim = max(np.abs(h.angle).max(), np.pi)
    _image(fig, left[1], h, h.angle, "p (rad)", f"predicted angle p (the Linear's last {h.angle.shape[1]} outputs): "
           f"{np.mean(np.abs(h.angle) > np.pi):.0%} of bins outside [-π, π]", cmap="coolwarm", vmin=-p_lim,
           vmax=p_lim)
    bar = _image(fig, left[2], h, h.phase, "phase (rad)", "phase = angle(cos p + i sin p), wrapped to (-π, π] "
                 "(cyclic colours: -π and π meet)", cmap="twilight", vmin=-np.pi, vmax=np.pi)
    bar.set_ticks([-np.pi, 0, np.pi], labels=["-π", "0", "π"])
    left[2].set_xlabel("time (s)")

    m = np.linspace(min(h.log_magnitude.min(), -1.0), max(h.log_magnitude.max(), np.log(h.ceiling) + 1), 400)
    right[0].plot(m, 20 * np.log10(np.minimum(np.exp(m), h.ceiling)), color="C3")
    right[0].axvspan(h.log_magnitude.min(), h.log_magnitude.max(), color="C0", alpha=0.2, label="range of m")
    right[0].set(xlabel="m", ylabel="|S| (dB)", title="|S| = min(e^m, ceiling)")
    right[0].legend(loc="upper left", fontsize="small")
    right[1].hist(h.angle.ravel(), bins=60, color="0.6")
    for x in (-np.pi, np.pi):
        right[1].axvline(x, color="k", ls="--", lw=1)
    right[1].set(xlabel="p (rad)", ylabel="bins (count)", title="distribution of p (dashed: ±π)")
    rng = np.random.default_rng(seed)
    pick = rng.choice(h.angle.size, size=min(max_points, h.angle.size), replace=False)
    p = h.angle.ravel()[pick]
    right[2].scatter(np.cos(p), np.sin(p), s=2, c=h.phase.ravel()[pick], cmap="twilight", vmin=-np.pi, vmax=np.pi)
    right[2].set(xlabel="cos p", ylabel="sin p", title="cos p + i sin p: unit circle", aspect="equal",
                 xlim=(-1.2, 1.2), ylim=(-1.2, 1.2))
    return fig
