"""The one-pass ELU / time padding of `layers/cpu/native.pad_act` (conv_kernels.c) against the plain MLX ops, its
use in `pad1d`, in ELU and fused into SEANet's convs (`run_layers`), and the LSTM's packed-weight cache and input
gates on MLX's BLAS."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.conv import SEANetResnetBlock, StreamableConv1d, pad1d, run_layers
from mlx_audio_lab.layers.cpu import elementwise, lstm_native, native, recurrence

pytestmark = [pytest.mark.usefixtures("fast_math_on"),
              pytest.mark.skipif(native.library() is None, reason="no C compiler: the MLX / numpy paths run")]


def _plain_pad(x: mx.array, left: int, right: int, mode: str) -> mx.array:
    return mx.pad(x, [(0, 0), (left, right), (0, 0)], mode="edge" if mode == "replicate" else mode)


@pytest.mark.parametrize("batch, length, channels, left, right", [
    (1, 7, 3, 2, 1), (2, 101, 17, 3, 0), (1, 1000, 32, 0, 5), (2, 333, 64, 6, 6), (1, 50, 1, 6, 0), (1, 9, 16, 0, 0)])
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
@pytest.mark.parametrize("elu", [False, True])
def test_pad_act_equals_mlx(batch, length, channels, left, right, mode, elu):
    """Pads of every mode on either side (none too), channel counts below, at and past one 16-float vector, odd
    lengths and a batch: the copy exactly, the ELU within its exp's 1e-7 (the pad rows are ELU'd edge rows)."""
    x = 3.0 * mx.random.normal((batch, length, channels), key=mx.random.key(length + channels))
    src = mx.where(x > 0, x, mx.exp(x) - 1) if elu else x
    want = _plain_pad(src, left, right, mode)
    got = native.pad_act(x, left, right, mode, elu)
    assert got.shape == want.shape and float(want.std()) > 0.5
    assert float(mx.abs(got - want).max()) <= (3e-7 if elu else 0.0)


def test_elu_pass_against_float64():
    """ELU alone on the direct kernel (`elementwise.elu`): within 3e-7 of the float64 formula, across the exp's
    clamp (x < -87) and NaN passed through; any shape, a multi-threaded size too."""
    x = np.concatenate([np.linspace(-100, 10, 400_001), [0.0, -0.0, 1e-30, -1e-30, np.nan]]).astype(np.float32)
    got = np.array(elementwise.elu(mx.array(x)))
    want = np.where(x > 0, x.astype(np.float64), np.expm1(x.astype(np.float64)))
    assert np.isnan(got[-1]) and np.abs(got[:-1] - want[:-1]).max() <= 3e-7
    y = mx.random.normal((3, 50, 20))
    assert float(mx.abs(elementwise.elu(y) - nn.elu(y)).max()) <= 3e-7


def test_pad1d_takes_the_kernel_and_short_reflect_falls_back(monkeypatch):
    """pad1d runs on the kernel for float32 on the CPU (same values as MLX's pad); a reflect pad as long as the
    signal (zero-extended first) and the plain-math setting keep MLX's ops."""
    calls = []
    original = native.pad_act
    monkeypatch.setattr(native, "pad_act", lambda *a, **k: calls.append(a[1:3]) or original(*a, **k))
    x = mx.random.normal((1, 5000, 24))
    for mode in ("reflect", "constant", "replicate"):
        assert mx.array_equal(pad1d(x, 4, 3, mode), _plain_pad(x, 4, 3, mode))
    assert calls == [(4, 3)] * 3
    short = mx.random.normal((1, 3, 24))
    fm.set_fast_math(False)
    want = pad1d(short, 4, 1, "reflect")
    fm.set_fast_math(True)
    assert mx.array_equal(pad1d(short, 4, 1, "reflect"), want) and len(calls) == 3


@pytest.mark.parametrize("stride, kernel, dilation, causal", [(1, 3, 1, False), (1, 3, 3, False), (2, 4, 1, False),
                                                               (4, 8, 1, True), (5, 10, 1, False), (1, 7, 1, True)])
def test_fused_elu_conv_equals_plain(monkeypatch, stride, kernel, dilation, causal):
    """`StreamableConv1d.after_elu` (ELU fused into the padding pass) equals ELU then the conv on the plain MLX
    path, for strided (odd length: extra right padding), dilated, causal and reflect-padded convs."""
    mx.random.seed(stride * 10 + kernel)
    conv = StreamableConv1d(24, 40, kernel, stride=stride, dilation=dilation, causal=causal)
    x = 2.0 * mx.random.normal((2, 4001, 24))
    fm.set_fast_math(False)
    want = conv(nn.elu(x))
    fm.set_fast_math(True)
    fused = []
    original = native.pad_act
    monkeypatch.setattr(native, "pad_act", lambda *a, **k: fused.append(k.get("elu")) or original(*a, **k))
    got = conv.after_elu(x)
    assert fused == [True]
    assert got.shape == want.shape and float(want.std()) > 0.3
    assert float(mx.abs(got - want).max()) <= 2e-5 * float(mx.abs(want).max())


def test_run_layers_taps_the_same_layers_fused_or_not():
    """A SEANet resnet block and a stage (ELU, strided conv) through `run_layers`: the same outputs within the
    conv tolerance and the same tapped layer indices with the fused path on as on the plain path."""
    mx.random.seed(3)
    block = SEANetResnetBlock(32, (3, 1), (2, 1), compress=2)
    layers = [block, nn.ELU(), StreamableConv1d(32, 64, 4, stride=2), nn.ELU(), StreamableConv1d(64, 8, 7)]
    x = mx.random.normal((1, 6001, 32))
    runs = {}
    for fast in (False, True):
        fm.set_fast_math(fast)
        seen: list[int] = []
        runs[fast] = (run_layers(layers, x, lambda i, y, seen=seen: seen.append(i) or y), seen)
    (want, seen_plain), (got, seen_fast) = runs[False], runs[True]
    assert seen_plain == seen_fast == [0, 2, 4]
    assert float(mx.abs(got - want).max()) <= 2e-5 * float(mx.abs(want).max()) and float(want.std()) > 0.05


@pytest.mark.skipif(lstm_native.library() is None, reason="no LSTM kernel")
def test_packed_weights_cached_per_parameter_array():
    """An MLX recurrent weight is packed once and reused while the same array object; a replaced parameter (a new
    array) is repacked; a NumPy weight is packed every call (it can change in place)."""
    w = mx.random.normal((4 * 64, 64))
    first = lstm_native.packed_weights(w, 2)
    assert lstm_native.packed_weights(w, 2) is first
    np.testing.assert_array_equal(first, lstm_native.thread_weights(np.array(w), 2))
    w2 = w * 2.0
    np.testing.assert_array_equal(lstm_native.packed_weights(w2, 2), 2.0 * first)
    wn = np.array(w)
    assert lstm_native.packed_weights(wn, 2) is not lstm_native.packed_weights(wn, 2)


def test_input_gates_on_mlx_blas_equal_numpy():
    """The next layer's input gates (x @ w_ih^T + bias) on MLX's BLAS, with and without a bias."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((75, 48)).astype(np.float32)
    w = mx.array(rng.standard_normal((128, 48)).astype(np.float32))
    b = mx.array(rng.standard_normal(128).astype(np.float32))
    np.testing.assert_allclose(recurrence._input_gates(x, w, b), x @ np.array(w).T + np.array(b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(recurrence._input_gates(x, w, None), x @ np.array(w).T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("true_skip", [False, True])
def test_resnet_block_fused_tail_equals_plain(monkeypatch, true_skip):
    """A SEANet resnet block's last ELU, kernel-1 conv, shortcut (a kernel-1 conv, or the identity) and sum as
    BLAS products accumulated into one biased output (`pointwise_sum`) equal the plain MLX path."""
    from mlx_audio_lab.layers.cpu import conv as cpu_conv

    mx.random.seed(7)
    block = SEANetResnetBlock(32, (3, 1), (1, 1), compress=2, true_skip=true_skip)
    for conv in [block.block[1], block.block[3]] + ([] if true_skip else [block.shortcut]):
        conv.conv.bias = mx.random.normal(conv.conv.bias.shape)
    x = mx.random.normal((2, 3001, 32))
    fm.set_fast_math(False)
    want = block(x)
    fm.set_fast_math(True)
    calls = []
    original = cpu_conv.pointwise_sum
    monkeypatch.setattr("mlx_audio_lab.layers.conv.pointwise_sum", lambda *a: calls.append(len(a[0])) or original(*a))
    got = block(x)
    assert calls == [1 if true_skip else 2] and got.shape == want.shape and float(want.std()) > 0.5
    assert float(mx.abs(got - want).max()) <= 2e-5 * float(mx.abs(want).max())
