"""Chatterbox S3Gen's CPU fast paths (Mish from one exp, attention over every head in one graph) against float64
NumPy and the plain MLX path; the estimator's taps with the fast paths on equal the plain path's, layer by layer."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.models.tts.chatterbox.flow_decoder import Estimator
from mlx_audio_lab.taps import capture

pytestmark = pytest.mark.usefixtures("fast_math_on")  # every test starts with the fast paths on


def test_mish_matches_float64_and_plain_over_the_float32_range():
    x = np.concatenate([np.linspace(-100, 100, 200_001), [0.0, -1e-30, 1e-30, 1e4, -1e4]]).astype(np.float32)
    assert fm.fast_math_active(x.size)
    fast = np.array(fm.mish(mx.array(x)), np.float64)
    with fm.plain_math():
        plain = np.array(fm.mish(mx.array(x)), np.float64)
    xd = x.astype(np.float64)
    want = xd * np.tanh(np.logaddexp(xd, 0.0))
    assert not np.array_equal(fast, plain)  # the fast path was taken
    rel = np.abs(fast - want) / np.maximum(np.abs(want), 1e-30)
    assert rel[np.abs(xd) < 80].max() < 2e-6  # beyond -80 both round to 0 (or a denormal)
    assert np.abs(fast - want).max() < 1e-6 * np.abs(want).max()
    assert np.abs(fast - want).max() <= 2 * np.abs(plain - want).max() + 1e-30
    assert np.isnan(np.array(fm.mish(mx.array(np.full(70_000, np.nan, np.float32))))).all()


@pytest.mark.parametrize("masked", [False, True])
def test_batched_attention_matches_float64_and_mlx_sdpa(masked):
    rng = np.random.default_rng(3)
    B, H, T, D = 2, 8, 200, 64
    q, k, v = (rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(3))
    keep = np.ones((B, 1, 1, T), bool)
    keep[1, ..., 150:] = False  # the second item: its last 50 frames are padding
    bias = np.where(keep, 0.0, -1.0e10).astype(np.float32) if masked else None
    assert fm.fast_math_active(B * H * T * T)
    args = [mx.array(a) for a in (q, k, v)]
    m = None if bias is None else mx.array(bias)
    got = np.array(fm.batched_attention(*args, 0.125, m))
    plain = np.array(mx.fast.scaled_dot_product_attention(*args, scale=0.125, mask=m))
    s = 0.125 * q.astype(np.float64) @ k.astype(np.float64).swapaxes(-1, -2) + (0 if bias is None else bias)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    want = (w / w.sum(axis=-1, keepdims=True)) @ v.astype(np.float64)
    assert want.std() > 0.05
    err, plain_err = np.abs(got - want).max(), np.abs(plain - want).max()
    assert err < 5e-6 and err <= 2 * plain_err + 1e-6, (err, plain_err)
    with fm.plain_math():
        np.testing.assert_array_equal(np.array(fm.batched_attention(*args, 0.125, m)), plain)


def _estimator_taps() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A seeded small estimator (fast-path sizes: 2 x 600 frames x 64 channels) -> its taps and velocity."""
    mx.random.seed(0)
    est = Estimator(320, 80, channels=64, blocks=1, mid_blocks=2, heads=2, head_dim=32)
    rng = np.random.default_rng(0)
    B, T = 2, 600
    x, mu, cond = (mx.array(rng.standard_normal((B, T, 80)).astype(np.float32)) for _ in range(3))
    spks = mx.array(rng.standard_normal((B, 80)).astype(np.float32))
    mask = mx.ones((B, T, 1))
    with capture() as taps:
        v = est(x, mask, mu, mx.array([0.3, 0.3]), spks, cond)
        mx.eval(v)
    return {k: np.array(a) for k, a in taps.items()}, np.array(v)


def test_estimator_fast_paths_equal_the_plain_path_at_every_tap():
    assert fm.fast_math_active(2 * 600 * 64) and fm.fast_math_active(2 * 2 * 600 * 600)
    fast, v_fast = _estimator_taps()
    with fm.plain_math():
        plain, v_plain = _estimator_taps()
    assert sorted(fast) == sorted(plain) and len(fast) >= 8  # the same layers are reported either way
    for name, want in plain.items():
        scale = np.abs(want).max()
        assert scale > 0 and want.std() > 1e-3, name  # outputs vary
        assert np.abs(fast[name] - want).max() < 1e-5 * scale, name
    assert np.abs(v_fast - v_plain).max() < 1e-5 * np.abs(v_plain).max()


def _hift_taps() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A seeded small HiFT on a 2 s mel (fast-path sizes from the first upsampling on) -> taps and audio."""
    from mlx_audio_lab.models.tts.chatterbox.config import HiFTConfig
    from mlx_audio_lab.models.tts.chatterbox.hift import HiFT

    mx.random.seed(1)
    hift = HiFT(HiFTConfig(base_channels=64, f0_channels=32))
    rng = np.random.default_rng(1)
    mel = mx.array((0.5 * rng.standard_normal((1, 200, 80)) - 4).astype(np.float32))
    phases = mx.array(rng.uniform(-np.pi, np.pi, (1, 9)).astype(np.float32) * (np.arange(9) > 0))
    noise = mx.array(rng.standard_normal((1, 200 * 480, 9)).astype(np.float32))
    with capture() as taps:
        audio, _ = hift(mel, phases, noise)
        mx.eval(audio)
    return {k: np.array(a) for k, a in taps.items()}, np.array(audio)


def test_hift_fast_paths_equal_the_plain_path_at_every_tap():
    fast, audio_fast = _hift_taps()
    with fm.plain_math():
        plain, audio_plain = _hift_taps()
    assert sorted(fast) == sorted(plain) and "hift.m_source" in fast and "hift.ups.2" in fast
    for name, want in plain.items():
        scale = np.abs(want).max()
        assert scale > 0 and want.std() > 1e-6, name
        assert np.abs(fast[name] - want).max() < 1e-5 * scale, name
    assert np.abs(audio_fast - audio_plain).max() < 1e-5 * np.abs(audio_plain).max()

