"""Voice activity views: speech probability over the waveform and spectrogram, thresholds and segments."""

from __future__ import annotations

import numpy as np

from ._view import new_figure
from .audio import _waveform, spectrogram_data


def vad_figure(audio: np.ndarray, sample_rate: int, result, title: str = "speech probability per window"):
    """Three rows on one time axis (s): waveform, log spectrogram, per-window probability with the threshold and
    the exit threshold as lines; the detected segments shaded on every row."""
    fig, (ax_w, ax_s, ax_p) = new_figure((10, 6), 3, 1, sharex=True)
    _waveform(ax_w, audio, sample_rate)
    ax_w.set_title("waveform, detected speech segments shaded")
    s = spectrogram_data(audio, sample_rate, "log", 512 if sample_rate >= 16000 else 256, 128)
    im = ax_s.imshow(s.values.T, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
                     extent=(0, len(s.values) * s.frame_seconds, 0, sample_rate / 2000))
    ax_s.set(ylabel="frequency (kHz)", title="log power spectrogram")
    fig.colorbar(im, cax=ax_s.inset_axes([1.005, 0.0, 0.012, 1.0]), label="dB")  # outside: time axes stay aligned
    probs = np.asarray(result.probabilities)
    t = np.arange(len(probs) + 1) * result.window_seconds
    ax_p.stairs(probs, t, color="tab:blue", label="P(speech)")
    opts = result.options
    high = opts.get("threshold", 0.5)
    low = opts.get("neg_threshold") or max(high - 0.15, 0.01)
    ax_p.axhline(high, color="tab:red", ls="--", lw=1, label=f"threshold {high:g}")
    ax_p.axhline(low, color="tab:green", ls=":", lw=1, label=f"exit threshold {low:g}")
    ax_p.set(ylim=(0, 1.02), ylabel="probability", xlabel="time (s)", title=title)
    ax_p.legend(loc="upper right", fontsize=8)
    for start, end in result.segments:
        for ax in (ax_w, ax_s, ax_p):
            ax.axvspan(start, end, color="tab:orange", alpha=0.2)
    ax_w.set_xlim(0, len(audio) / sample_rate)
    return fig
