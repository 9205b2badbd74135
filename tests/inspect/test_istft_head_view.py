"""ISTFT-head mechanism core: the Linear's halves -> clipped magnitude and wrapped phase, equal to the Vocos port's
own taps and to the spectrum its inverse STFT receives; the figure's units."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect.istft_head import HeadMechanism, head_mechanism_figure


def test_halves_clip_and_wrap():
    out = np.array([[0.0, 5.0, -1.0, 2 * np.pi + 0.1, -np.pi - 0.2, 0.5]])  # n_fft 4: 3 bins each
    h = HeadMechanism.from_linear(out, hop=1, sample_rate=8, n_fft=4)
    np.testing.assert_allclose(h.magnitude, [[1.0, 100.0, np.exp(-1)]])  # e^5 = 148 clipped at 100
    np.testing.assert_array_equal(h.clipped, [[False, True, False]])
    np.testing.assert_allclose(h.phase, [[0.1, np.pi - 0.2, 0.5]], atol=1e-12)
    np.testing.assert_allclose(np.abs(h.spectrum), h.magnitude)
    np.testing.assert_allclose(h.hz, [0, 2, 4])
    with pytest.raises(ValueError, match="expected"):
        HeadMechanism.from_linear(out[:, :5], hop=1, sample_rate=8, n_fft=4)


def test_equals_the_vocos_ports_taps_and_spectrum():
    import mlx_audio_lab
    from mlx_audio_lab.fixtures import build
    from mlx_audio_lab.taps import capture

    model = mlx_audio_lab.load(build("vocos"))
    head = model.config.head
    clip = np.sin(2 * np.pi * 220 * np.arange(model.sample_rate // 4) / model.sample_rate).astype(np.float32)
    with capture(["head.out", "head.magnitude", "head.phase"]) as got:
        model.decode(model.encode(clip))
    h = HeadMechanism.from_linear(np.array(got["head.out"])[0], head.hop_length, model.sample_rate, head.n_fft)
    np.testing.assert_allclose(h.magnitude, np.array(got["head.magnitude"])[0], rtol=1e-5)
    diff = np.angle(np.exp(1j * (h.phase - np.array(got["head.phase"])[0])))  # equal modulo 2 pi
    assert np.abs(diff).max() < 1e-5


def test_figure_units_colorbars_and_title():
    rng = np.random.default_rng(0)
    out = np.concatenate([rng.uniform(-3, 3, (20, 33)) + np.r_[np.zeros(32), 8.0], rng.normal(0, 5, (20, 33))], 1)
    h = HeadMechanism.from_linear(out, hop=16, sample_rate=16000, n_fft=64)
    fig = head_mechanism_figure(h, "random weights: the mechanism")
    images = [ax for ax in fig.axes if ax.get_ylabel() == "frequency (Hz)"]
    assert len(images) == 3 and images[-1].get_xlabel() == "time (s)"
    assert images[0].get_ylim()[1] == pytest.approx(8000, rel=0.05)
    assert fig.get_suptitle() == "random weights: the mechanism"
    assert "reached by 3% of bins" in images[0].get_title()  # the last bin (m >= 5 > ln 100) of 33, in every frame
    bars = [ax.get_ylabel() for ax in fig.axes[6:]]  # the colorbars, after the 3 x 2 panels
    assert bars == ["|S| (dB)", "p (rad)", "phase (rad)"]
    assert images[2].collections[0].get_cmap().name == "twilight"
    assert all(ax.get_title() for ax in fig.axes if ax.get_xlabel() or ax.get_ylabel() == "frequency (Hz)")
