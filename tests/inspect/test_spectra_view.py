"""ISTFT-head view core: the instantaneous frequency read from the phase advance, and the figure's units."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect.spectra import HeadSpectra, head_figure, instantaneous_frequency, stft_spectra, wrap


def test_wrap_folds_into_minus_pi_pi():
    np.testing.assert_allclose(wrap([0.0, np.pi + 0.1, -np.pi - 0.1, 4 * np.pi]), [0, -np.pi + 0.1, np.pi - 0.1, 0],
                               atol=1e-12)


def test_a_tone_reads_back_its_frequency_in_the_bins_around_it():
    sr, n_fft, hop, f = 24000, 1024, 256, 1000.0
    tone = np.sin(2 * np.pi * f * np.arange(sr // 2) / sr)
    s = stft_spectra(tone, sr, n_fft, hop)
    k = int(round(f * n_fft / sr))  # bin 43 (1007.8 Hz)
    inst = instantaneous_frequency(s.phase, hop, sr, n_fft)[4:-4]  # away from the reflect-padded edges
    np.testing.assert_allclose(inst[:, k - 1:k + 2], f, atol=0.5)  # bins 42-44: centres 984-1031 Hz
    off = s.if_offset(floor_db=40)
    assert np.nanmax(np.abs(off[4:-4, k] - (f - s.hz[k]))) < 0.5
    assert np.isnan(off[4:-4, 300]).all()  # far from the tone: below the floor, left blank


def test_a_linear_phase_ramp_is_the_bin_centre_plus_its_excess():
    sr, n_fft, hop = 16000, 64, 16
    k = np.arange(n_fft // 2 + 1)
    excess = 0.3  # rad per hop beyond the centre's advance, in every bin
    phase = np.arange(5)[:, None] * (2 * np.pi * k * hop / n_fft + excess)
    got = instantaneous_frequency(phase, hop, sr, n_fft)
    np.testing.assert_allclose(got, np.broadcast_to(k * sr / n_fft + excess * sr / (2 * np.pi * hop), (4, k.size)))


def test_figure_has_hz_axes_seconds_and_a_colorbar_per_panel():
    rng = np.random.default_rng(0)
    s = HeadSpectra(np.exp(rng.standard_normal((20, 33))), rng.uniform(-9, 9, (20, 33)), 16, 16000, 64)
    fig = head_figure(s, "test head")
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "frequency (Hz)"]
    bars = [ax for ax in fig.axes if ax not in panels]
    assert len(panels) == 3 and len(bars) == 3
    assert [b.get_ylabel() for b in bars] == ["magnitude (dB)", "phase (rad)", "IF - bin centre (Hz)"]
    assert panels[-1].get_xlabel() == "time (s)" and panels[0].get_ylim()[1] == pytest.approx(8000, rel=0.05)
    mesh = panels[1].collections[0]
    assert mesh.get_clim() == pytest.approx((-np.pi, np.pi)) and mesh.get_cmap().name == "twilight"
    assert all(ax.get_title() for ax in panels)
