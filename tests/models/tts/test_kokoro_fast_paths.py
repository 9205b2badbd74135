"""Kokoro's CPU fast paths (fused AdaIN + Snake, ...) against float64 NumPy and the plain MLX path."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.cpu import elementwise
from mlx_audio_lab.models.tts.kokoro.modules import AdaIN1d, adain_leaky, adain_snake

pytestmark = pytest.mark.usefixtures("fast_math_on")  # every test starts with the fast paths on


def _adain(channels: int, seed: int) -> AdaIN1d:
    """An AdaIN with seeded, non-trivial weights (style projection, instance-norm affine)."""
    rng = np.random.default_rng(seed)
    norm = AdaIN1d(64, channels)
    norm.fc.weight = mx.array(rng.normal(0, 0.2, norm.fc.weight.shape).astype(np.float32))
    norm.fc.bias = mx.array(rng.normal(0, 0.2, norm.fc.bias.shape).astype(np.float32))
    norm.norm.weight = mx.array(rng.uniform(0.5, 1.5, channels).astype(np.float32))
    norm.norm.bias = mx.array(rng.normal(0, 0.3, channels).astype(np.float32))
    return norm


def _adain_float64(norm: AdaIN1d, x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AdaIN in float64 NumPy, from the definitions (instance norm, its affine, the style's scale and shift)."""
    x = x.astype(np.float64)
    gamma, beta = np.split(s.astype(np.float64) @ np.array(norm.fc.weight, np.float64).T
                           + np.array(norm.fc.bias, np.float64), 2, axis=-1)
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    y = (x - mean) / np.sqrt(var + 1e-5) * np.array(norm.norm.weight, np.float64) + np.array(norm.norm.bias,
                                                                                            np.float64)
    return (1 + gamma[:, None]) * y + beta[:, None]


def _inputs(batch: int, frames: int, channels: int) -> tuple[AdaIN1d, np.ndarray, np.ndarray]:
    """A seeded AdaIN, an input (B, T, C) with per-channel offsets, and a style (B, 64)."""
    rng = np.random.default_rng(frames)
    x = (rng.normal(0, 2, (batch, frames, channels)) + rng.normal(0, 1, channels)).astype(np.float32)
    assert fm.fast_math_active(x.size)
    return _adain(channels, seed=frames), x, rng.normal(0, 1, (batch, 64)).astype(np.float32)


def test_channel_moments_match_float64_with_a_large_offset():
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 1, (2, 9001, 128)) * rng.uniform(0.01, 3, 128) + rng.normal(0, 50, 128)).astype(np.float32)
    mean, var = elementwise.channel_moments(mx.array(x))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, x64.var(axis=1), rtol=1e-4)  # one float32 rounding of x - mean per block


SHAPES = [(1, 9000, 128), (2, 700, 256), (1, 300, 512)]  # split over both workers; batched; one block


@pytest.mark.parametrize(("batch", "frames", "channels"), SHAPES)
def test_fused_adain_snake_matches_plain_and_float64(batch, frames, channels):
    norm, x, s = _inputs(batch, frames, channels)
    alpha = np.random.default_rng(1).uniform(0.2, 3, (1, 1, channels)).astype(np.float32)
    fast = np.array(adain_snake(norm, mx.array(x), mx.array(s), mx.array(alpha)))
    with fm.plain_math():
        plain = np.array(adain_snake(norm, mx.array(x), mx.array(s), mx.array(alpha)))
    y = _adain_float64(norm, x, s)
    a = alpha.astype(np.float64).reshape(-1)
    want = y + np.sin(a * y) ** 2 / a
    scale = np.abs(want).max()
    assert scale > 1 and np.ptp(want) > 1  # outputs vary
    assert np.abs(fast - want).max() < 2e-6 * scale
    assert np.abs(plain - want).max() < 2e-6 * scale
    assert np.abs(fast - plain).max() < 4e-6 * scale


@pytest.mark.parametrize(("batch", "frames", "channels"), SHAPES)
def test_fused_adain_leaky_matches_plain_and_float64(batch, frames, channels):
    norm, x, s = _inputs(batch, frames, channels)
    fast = np.array(adain_leaky(norm, mx.array(x), mx.array(s), 0.2))
    with fm.plain_math():
        plain = np.array(adain_leaky(norm, mx.array(x), mx.array(s), 0.2))
    y = _adain_float64(norm, x, s)
    want = np.where(y >= 0, y, 0.2 * y)
    scale = np.abs(want).max()
    assert scale > 1 and (want < 0).mean() > 0.1
    assert np.abs(fast - want).max() < 2e-6 * scale
    assert np.abs(plain - want).max() < 2e-6 * scale
    assert np.abs(fast - plain).max() < 4e-6 * scale


def test_affine_leaky_rejects_a_slope_past_one():
    x = mx.zeros((1, 4, 2))
    with pytest.raises(ValueError, match="slope"):
        elementwise.affine_leaky(x, np.zeros((1, 2)), np.ones((1, 2)), np.zeros((1, 2)), 1.5)


def test_head_spectrum_and_source_sin_match_plain_and_float64():
    from mlx_audio_lab.models.tts.kokoro.istftnet import _sin, head_spectrum

    rng = np.random.default_rng(5)
    x = (rng.standard_normal((1, 9000, 22)) * 2).astype(np.float32)
    phase = rng.uniform(0, 3000, (1, 40000, 9)).astype(np.float32)  # phases reach thousands of radians
    fast_spec, fast_sin = np.array(head_spectrum(mx.array(x), 11)), np.array(_sin(mx.array(phase)))
    with fm.plain_math():
        plain_spec, plain_sin = np.array(head_spectrum(mx.array(x), 11)), np.array(_sin(mx.array(phase)))
    x64 = x.astype(np.float64)
    want = np.exp(x64[..., :11]) * np.exp(1j * np.sin(x64[..., 11:]))
    scale = np.abs(want).max()
    assert scale > 100
    for got in (fast_spec, plain_spec):
        assert np.abs(got - want).max() < 3e-7 * scale
    for got in (fast_sin, plain_sin):
        assert np.abs(got - np.sin(phase.astype(np.float64))).max() < 2e-7


def test_albert_gelu_new_fast_matches_plain_and_float64():
    from mlx_audio_lab.models.tts.kokoro.albert import gelu_new

    x = (np.random.default_rng(6).standard_normal((1, 300, 2048)) * 3).astype(np.float32)
    fast = np.array(gelu_new(mx.array(x)))
    with fm.plain_math():
        plain = np.array(gelu_new(mx.array(x)))
    x64 = x.astype(np.float64)
    want = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64**3)))
    assert np.ptp(want) > 5
    assert np.abs(fast - want).max() < 2e-6 and np.abs(plain - want).max() < 2e-6


@pytest.mark.parametrize("slope", [0.2, 0.1, 0.01])
def test_leaky_fast_equals_plain(slope):
    from mlx_audio_lab.models.tts.kokoro.modules import leaky

    x = mx.array(np.random.default_rng(7).standard_normal((1, 9000, 128)).astype(np.float32))
    fast = np.array(leaky(x, slope))
    fast_again = np.array(leaky(2 * x, slope))  # the reused output buffer leaves earlier results intact
    with fm.plain_math():
        plain = np.array(leaky(x, slope))
    assert (plain < 0).mean() > 0.4 and np.array_equal(fast, plain)
    assert np.array_equal(fast_again, 2 * plain) and np.array_equal(np.array(leaky(x, slope)), plain)


def test_harmonic_source_spectrum_fast_matches_plain():
    """Generator.source (sines on NumPy's sin, |X| and angle on NumPy's) against the plain MLX path: magnitudes
    equal within float32 rounding, phases equal modulo 2 pi wherever the bin is not ~0."""
    from mlx_audio_lab.models.tts.kokoro.config import ISTFTNetConfig
    from mlx_audio_lab.models.tts.kokoro.istftnet import Generator
    from mlx_audio_lab.models.tts.kokoro.model import source_noise

    mx.random.seed(0)
    gen = Generator(64, ISTFTNetConfig())
    f0 = mx.array((120 + 40 * np.sin(np.arange(300) / 15)).astype(np.float32))[None]  # 300 frames, voiced
    rand_ini, noise = source_noise(0, 1, 300 * gen.scale)
    fast = np.array(gen.source(f0, rand_ini, noise))
    with fm.plain_math():
        plain = np.array(gen.source(f0, rand_ini, noise))
    half = fast.shape[-1] // 2
    mag = plain[..., :half]
    assert fm.fast_math_active(mag.size) and mag.max() > 1
    assert np.abs(fast[..., :half] - mag).max() < 1e-5 * mag.max()
    dphase = np.abs((fast[..., half:] - plain[..., half:] + np.pi) % (2 * np.pi) - np.pi)
    assert (dphase * mag).max() < 1e-5 * mag.max()  # the spectrum error the phase difference makes


def test_fractional_part_by_floor_is_remainder_bit_for_bit():
    """SineGen's y - floor(y) on the CPU: MLX's remainder(y, 1) and torch's `y % 1`, bit for bit."""
    torch = pytest.importorskip("torch")
    y = np.concatenate([np.random.default_rng(8).uniform(-5, 30, 200_000), [0.0, -0.0, 1.0, -1.0, 2.5, -2.5]])
    y = y.astype(np.float32)
    frac = np.array(mx.array(y) - mx.floor(mx.array(y)))
    assert np.array_equal(frac, np.array(mx.remainder(mx.array(y), 1.0)))
    assert np.array_equal(frac, (torch.from_numpy(y) % 1).numpy())
    assert frac.min() >= 0 and frac.max() < 1 and np.ptp(frac) > 0.9
