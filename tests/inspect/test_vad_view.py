"""The VAD view: probabilities per window on a time axis in seconds, both thresholds drawn, every segment shaded."""

from __future__ import annotations

import numpy as np

from mlx_audio_lab.inspect import vad_figure
from mlx_audio_lab.results import RunStats, VADResult


def test_vad_figure_draws_thresholds_and_segments():
    sr = 16000
    audio = np.random.default_rng(0).standard_normal(2 * sr).astype(np.float32) * 0.1
    probs = np.r_[np.zeros(20), np.ones(22), np.zeros(20)].astype(np.float32)
    result = VADResult([(0.6, 1.4)], probs, 0.032, RunStats(sr, 2.0), [(9600, 22400)], {"threshold": 0.6})
    fig = vad_figure(audio, sr, result)
    ax_w, ax_s, ax_p = fig.axes[:3]
    assert ax_p.get_xlabel() == "time (s)" and ax_s.get_ylabel() == "frequency (kHz)"
    assert np.allclose(sorted(line.get_ydata()[0] for line in ax_p.get_lines()), [0.45, 0.6])  # exit: thr - 0.15
    for ax in (ax_w, ax_s, ax_p):
        spans = [p for p in ax.patches if p.get_alpha() == 0.2]
        assert len(spans) == 1 and np.allclose(spans[0].get_x(), 0.6)
    assert ax_s.images and len(ax_s.child_axes) == 1  # the spectrogram colorbar (inset, axes stay aligned)
