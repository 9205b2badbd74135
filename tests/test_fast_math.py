"""Accuracy of the fast CPU exp / softmax / GELU / attention against float64 NumPy and the plain MLX ops."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from scipy.special import erf

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.cpu import gemv

pytestmark = pytest.mark.usefixtures("fast_math_on")  # every test starts with the fast paths on


def _grid(lo: float, hi: float, n: int = 1_000_001, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(lo, hi, n), rng.uniform(lo, hi, n // 10)]).astype(np.float32)


def test_fast_exp_relative_error_over_the_float32_range():
    x = _grid(-87.0, 88.0)
    got = np.array(fm.fast_exp(mx.array(x)), np.float64)
    want = np.exp(x.astype(np.float64))
    rel = np.abs(got - want) / want
    assert rel.max() < 3e-7
    assert np.ptp(got) > 1e30  # the outputs really vary


def test_fast_exp_limits():
    x = np.array([-np.inf, -1e30, -1e4, -88.0, 0.0, 1e4, 1e30, np.inf, np.nan], np.float32)
    got = np.array(fm.fast_exp(mx.array(x)))
    np.testing.assert_array_equal(got[:4], 0.0)
    assert got[4] == 1.0
    assert np.all(np.isposinf(got[5:8]))
    assert np.isnan(got[8])


def test_fast_exp_shift_and_dtype():
    xs = np.linspace(-20, 20, 1001, dtype=np.float32)
    x = mx.array(xs)
    got = np.array(fm.fast_exp(x, mx.array([[3.0]])))[0]
    want = np.exp((xs - np.float32(3.0)).astype(np.float64))  # the float32 subtraction is part of the op
    assert np.max(np.abs(got - want) / want) < 3e-7
    with pytest.raises(TypeError, match="float32"):
        fm.fast_exp(x.astype(mx.float16))


@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_softmax_with_minus_inf_masking(scale):
    rng = np.random.default_rng(1)
    s = (rng.standard_normal((4, 300, 500)) * scale).astype(np.float32)
    s[rng.uniform(size=s.shape) < 0.3] = -np.inf
    s[:, :, 0] = rng.standard_normal((4, 300))  # at least one finite score per row
    got = np.array(fm.softmax(mx.array(s)))
    z = s.astype(np.float64) - s.max(axis=-1, keepdims=True)
    want = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    assert np.abs(got - want).max() < 1e-6
    assert np.all(got[s == -np.inf] == 0.0)
    assert want.std() > 1e-3


def test_gelu_matches_the_erf_form():
    x = _grid(-20.0, 20.0)
    got = np.array(fm.gelu(mx.array(x)), np.float64)
    xd = x.astype(np.float64)
    want = 0.5 * xd * (1.0 + erf(xd / math.sqrt(2.0)))
    # absolute error scaled by |x| (the erf form's own cancellation for x << 0), as torch's and MLX's CPU GELU
    assert np.max(np.abs(got - want) / np.maximum(1.0, np.abs(xd))) < 3e-7
    big = np.abs(want) > 0.05
    assert np.max(np.abs(got - want)[big] / np.abs(want[big])) < 1e-5
    plain = np.array(nn.gelu(mx.array(x)), np.float64)
    assert np.max(np.abs(got - plain)) < 1e-6


def test_gelu_large_inputs():
    x = mx.array(np.array([-1e30, -1e4, -40.0, 40.0, 1e4, 1e30] + [0.0] * 70000, np.float32))
    got = np.array(fm.gelu(x))[:6]
    np.testing.assert_allclose(got[:3], 0.0, atol=1e-30)
    np.testing.assert_array_equal(got[3:], np.array([40.0, 1e4, 1e30], np.float32))


def _masks(T: int, S: int):
    rng = np.random.default_rng(2)
    keep = rng.uniform(size=(T, S)) < 0.7
    keep[:, -1] = True
    yield None
    yield "causal"
    yield mx.array(keep)
    yield mx.array(np.where(keep, 0.0, -np.inf).astype(np.float32))


@pytest.mark.parametrize("T,S", [(700, 700), (300, 900)])
def test_attention_matches_mlx_sdpa(T, S):
    rng = np.random.default_rng(3)
    q = mx.array(rng.standard_normal((2, 4, T, 64)).astype(np.float32))
    k = mx.array(rng.standard_normal((2, 4, S, 64)).astype(np.float32))
    v = mx.array(rng.standard_normal((2, 4, S, 64)).astype(np.float32))
    assert fm.fast_math_active(4 * T * S)
    qd, kd, vd = (np.array(a, np.float64) for a in (q, k, v))
    for mask in _masks(T, S):
        plain = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.3, mask=mask)
        got = fm.scaled_dot_product_attention(q, k, v, 0.3, mask=mask)
        s = 0.3 * qd @ kd.swapaxes(-1, -2)
        if mask is not None:
            keep = np.arange(S)[None] <= np.arange(S - T, S)[:, None] if isinstance(mask, str) else np.array(mask)
            s = np.where(keep.astype(bool) if keep.dtype == bool else keep == 0, s, -np.inf)
        w = np.exp(s - s.max(axis=-1, keepdims=True))
        want = (w / w.sum(axis=-1, keepdims=True)) @ vd
        assert got.shape == plain.shape == want.shape
        err, plain_err = np.abs(np.array(got) - want).max(), np.abs(np.array(plain) - want).max()
        assert err < 5e-6 and err <= 2 * plain_err + 1e-6, (mask, err, plain_err)
        assert want.std() > 0.05


def test_bad_mask_is_named():
    q = mx.zeros((1, 4, 300, 16))
    with pytest.raises(ValueError, match="'sliding'"):
        fm.scaled_dot_product_attention(q, q, q, 1.0, mask="sliding")


def test_plain_path_switch(monkeypatch):
    x = mx.array(np.linspace(-6, 6, 200_000, dtype=np.float32))
    assert not np.array_equal(np.array(fm.gelu(x)), np.array(nn.gelu(x)))  # the fast path is taken ...
    with fm.plain_math():
        assert not fm.fast_math_active(1 << 20)
        np.testing.assert_array_equal(np.array(fm.gelu(x)), np.array(nn.gelu(x)))  # ... and this is the reference
    fm.set_fast_math(None)
    monkeypatch.setenv(fm.PLAIN_ENV, "1")
    assert not fm.fast_math_active(1 << 20)
    monkeypatch.setenv(fm.PLAIN_ENV, "0")
    assert fm.fast_math_active(1 << 20)
    assert not fm.fast_math_active(100)  # small arrays keep the plain ops


def test_project_one_row_equals_matmul():
    rng = np.random.default_rng(4)
    w = mx.array(rng.standard_normal((5000, 384)).astype(np.float32))
    x = mx.array(rng.standard_normal((1, 1, 384)).astype(np.float32))
    got, want = gemv.project(x, w), x @ w.T
    assert got.shape == want.shape == (1, 1, 5000)
    assert mx.abs(got - want).max().item() < 1e-4 and mx.std(want).item() > 1.0
    rows = mx.array(rng.standard_normal((2, 3, 384)).astype(np.float32))  # several rows: MLX's matmul
    assert mx.array_equal(gemv.project(rows, w), rows @ w.T)


def test_tied_logits_float_and_quantized_embeddings():
    emb = nn.Embedding(5000, 128)
    x = mx.random.normal((1, 1, 128), key=mx.random.key(5))
    want = emb.as_linear(x)
    assert mx.abs(gemv.tied_logits(x, emb) - want).max().item() < 1e-4
    q = nn.QuantizedEmbedding.from_embedding(emb, group_size=64, bits=8)
    assert mx.array_equal(gemv.tied_logits(x, q), q.as_linear(x))  # packed weights keep their own projection
    assert mx.abs(gemv.tied_logits(x, q) - want).max().item() < 0.05 * mx.abs(want).max().item()


@pytest.mark.parametrize("eps", [1e-9, 0.0])
def test_fast_snake_matches_sin(eps):
    """The reduced-polynomial Snake equals x + sin^2(alpha x) / (alpha + eps) to float32 rounding."""
    from mlx_audio_lab.layers.snake import snake

    mx.random.seed(4)
    x = mx.random.normal((1, 5000, 32)) * 20  # arguments up to ~|200|: many periods of the reduction
    alpha = mx.random.uniform(0.05, 3.0, (32,))
    with fm.plain_math():
        plain = snake(x, alpha, eps)
    fast = snake(x, alpha, eps)
    assert float(mx.abs(fast - plain).max()) <= 2e-6 * float(mx.abs(plain).max())
    wiggle = fast - x  # the sin^2 part itself, up to 1 / alpha
    assert float(mx.abs(wiggle - (plain - x)).max()) <= 2e-5 * float(mx.abs(plain - x).max())
    assert float(wiggle.std()) > 0.1


def test_fast_elu_matches_nn_elu(monkeypatch):
    """ELU through numpy's exp (the CPU fast path) equals `nn.elu` to float32 rounding, both sides of zero and
    far below it."""
    from mlx_audio_lab.layers.fast_math import ELU

    mx.random.seed(5)
    x = mx.concatenate([mx.random.normal((70_000,)) * 3, mx.array([-200.0, -1e-8, 0.0, 1e-8, 50.0])])
    fast, plain = ELU()(x), nn.elu(x)
    assert float(mx.abs(fast - plain).max()) <= 3e-7
    from mlx_audio_lab.layers.cpu import elementwise

    calls, numpy_elu = [], elementwise.elu
    monkeypatch.setattr(elementwise, "elu", lambda a: calls.append(a.size) or numpy_elu(a))
    big = mx.random.normal((3, 400_001)) * 3  # cut in two slices, one per worker thread
    assert float(mx.abs(ELU()(big) - nn.elu(big)).max()) <= 3e-7 and ELU()(big).shape == big.shape
    assert calls == [big.size, big.size]  # numpy's loops ran
    with fm.plain_math():
        assert mx.array_equal(ELU()(x), plain)
    assert len(calls) == 2
    assert float(fast.min()) == -1.0 and float(fast.std()) > 0.5
    assert isinstance(ELU(), nn.ELU)  # SEANet's taps skip activations by type
