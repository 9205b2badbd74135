"""The CUDA kernels of `layers/gpu/` against the plain MLX ops they replace (run where MLX has a CUDA device;
on the CPU only the dispatch rules run: the kernels must never be picked there)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import gpu
from mlx_audio_lab.layers.antialias import Activation1d
from mlx_audio_lab.layers.gpu.grouped_conv import gpu_grouped_conv_fits
from mlx_audio_lab.layers.gpu.lstm import MAX_BLOCKS, _units_per_block, gpu_lstm_active, multiprocessors
from mlx_audio_lab.layers.lstm import LSTM
from mlx_audio_lab.layers.snake import SnakeBeta, snake

cuda = pytest.mark.skipif(not mx.cuda.is_available(), reason="needs MLX's CUDA back end")


@pytest.mark.parametrize("directions", [1, 2])
@pytest.mark.parametrize("hidden", [1, 7, 64, 100, 256, 512, 1024, 4096])
def test_units_per_block_divides_and_bounds(hidden, directions):
    """Every launch's blocks fit the multiprocessors at one block each (the grid barrier's co-residency)."""
    limit = min(MAX_BLOCKS, multiprocessors() // directions)
    u = _units_per_block(hidden, directions)
    assert u is not None and hidden % u == 0 and directions * (hidden // u) <= multiprocessors()
    assert hidden // u <= limit
    assert u == 1 or hidden // (u - 1) > limit or hidden % (u - 1)  # the smallest such divisor


def test_multiprocessors_is_a_positive_count():
    assert isinstance(multiprocessors(), int) and multiprocessors() >= 1


def test_never_active_on_the_cpu():
    with mx.stream(mx.cpu):
        assert not gpu.gpu_kernels_active()
        assert not gpu_lstm_active(mx.zeros((1, 5, 8)), mx.zeros((8, 2)))
        assert not gpu_grouped_conv_fits(mx.zeros((1, 5, 8)), mx.zeros((8, 7, 1)), 8)


def _plain(monkeypatch, fn):
    monkeypatch.setenv(gpu.GPU_KERNELS_ENV, "0")
    out = fn()
    mx.eval(out)
    monkeypatch.delenv(gpu.GPU_KERNELS_ENV)
    return out


@cuda
@pytest.mark.parametrize("hidden,batch,layers,bidirectional,dtype,tol", [
    (64, 1, 1, False, mx.float32, 2e-6), (512, 1, 2, False, mx.float32, 5e-6), (256, 1, 1, True, mx.float32, 5e-6),
    (100, 3, 1, True, mx.float32, 5e-6), (512, 2, 2, False, mx.bfloat16, 3e-2)])
def test_lstm_kernel_equals_stepped_ops(monkeypatch, hidden, batch, layers, bidirectional, dtype, tol):
    mx.random.seed(0)
    lstm = LSTM(48, hidden, layers, bidirectional=bidirectional)
    lstm.update({k: v + 0.1 * mx.random.normal(v.shape) for k, v in lstm.parameters().items()})
    lstm.set_dtype(dtype)
    x = mx.random.normal((batch, 300, 48)).astype(dtype)
    assert gpu_lstm_active(mx.zeros((batch, 300, 4 * hidden), dtype), lstm.weight_hh_l0)
    want = _plain(monkeypatch, lambda: lstm(x))
    got = lstm(x)
    err = float(mx.abs(got.astype(mx.float32) - want.astype(mx.float32)).max())
    assert err <= tol, err
    y, state = lstm.run(x[:, :120]) if not bidirectional else (None, None)
    if state is not None:  # chunks continue from the kernel's last (h, c)
        y2, _ = lstm.run(x[:, 120:], state)
        err = float(mx.abs(mx.concatenate([y, y2], 1).astype(mx.float32) - want.astype(mx.float32)).max())
        assert err <= tol, err


@cuda
@pytest.mark.parametrize("shape,dtype", [((1, 1000, 32), mx.float32), ((2, 257, 48), mx.float32),
                                         ((1, 513, 24), mx.bfloat16)])
def test_antialiased_snake_kernel_equals_ops(monkeypatch, shape, dtype):
    mx.random.seed(1)
    act = Activation1d(SnakeBeta(shape[-1], logscale=True))
    act.act.alpha = 0.5 * mx.random.normal((shape[-1],))
    act.act.beta = 0.5 * mx.random.normal((shape[-1],))
    x = (2 * mx.random.normal(shape)).astype(dtype)
    exact = _plain(monkeypatch, lambda: act(x.astype(mx.float32)))  # the ops in float32
    got = act(x).astype(mx.float32)
    err = float(mx.abs(got - exact).max())
    if dtype == mx.float32:
        assert err <= 2e-6, err
    else:  # the kernel rounds once to bfloat16; the ops round at every step: it must be no further off than they are
        ops = _plain(monkeypatch, lambda: act(x)).astype(mx.float32)
        assert err <= float(mx.abs(ops - exact).max()) and err <= 2 ** -7 * float(mx.abs(exact).max()), err


@cuda
def test_fused_snake_equals_ops(monkeypatch):
    x = mx.random.normal((1, 4000, 64))
    alpha = mx.exp(mx.random.normal((64,)))
    want = _plain(monkeypatch, lambda: snake(x, alpha))
    assert float(mx.abs(snake(x, alpha) - want).max()) <= 1e-5
    assert np.isfinite(np.array(want)).all()


@cuda
@pytest.mark.parametrize("groups_of, k, stride, padding, dilation", [(1, 7, 1, 3, 1), (1, 7, 1, 9, 3), (2, 7, 1, 27, 9),
                                                                     (1, 4, 2, 1, 1), (4, 3, 1, 0, 1)])
@pytest.mark.parametrize("dtype, tol", [(mx.float32, 1e-5), (mx.bfloat16, 2e-2)])
def test_grouped_conv_kernel_equals_mlx(monkeypatch, groups_of, k, stride, padding, dilation, dtype, tol):
    """The grouped conv kernel (depthwise and 2 or 4 channels per group, strides, dilations, bias) against
    `mx.conv1d` with groups, and the dispatcher takes it on CUDA only."""
    from mlx_audio_lab.layers.cpu.conv import conv1d
    from mlx_audio_lab.layers.gpu.grouped_conv import gpu_grouped_conv_fits, grouped_conv1d

    rng = np.random.default_rng(k * 10 + groups_of)
    C = 96
    x = mx.array(rng.standard_normal((2, 301, C), np.float32)).astype(dtype)
    w = mx.array(rng.standard_normal((C, k, groups_of), np.float32) / np.sqrt(k * groups_of)).astype(dtype)
    b = mx.array(rng.standard_normal(C, np.float32))
    groups = C // groups_of
    assert gpu_grouped_conv_fits(x, w, groups)
    got = grouped_conv1d(x, w, stride, padding, dilation, groups, b)
    want = mx.conv1d(x.astype(mx.float32), w.astype(mx.float32), stride=stride, padding=padding,
                     dilation=dilation, groups=groups) + b
    assert got.shape == want.shape and got.dtype == dtype
    assert float(mx.abs(got.astype(mx.float32) - want).max()) <= tol * float(mx.abs(want).max())
    np.testing.assert_array_equal(np.array(conv1d(x, w, stride, padding, dilation, groups, b).astype(mx.float32)),
                                  np.array(got.astype(mx.float32)))
    monkeypatch.setenv(gpu.GPU_KERNELS_ENV, "0")
    assert not gpu_grouped_conv_fits(x, w, groups)


@cuda
@pytest.mark.parametrize("k, stride, padding, dilation, output_padding", [(3, 2, 1, 1, 1), (4, 2, 1, 1, 0),
                                                                          (5, 3, 2, 2, 1), (3, 1, 1, 1, 0)])
@pytest.mark.parametrize("dtype, tol", [(mx.float32, 1e-5), (mx.bfloat16, 2e-2)])
def test_depthwise_transposed_kernel_equals_mlx(monkeypatch, k, stride, padding, dilation, output_padding, dtype,
                                                tol):
    """The depthwise transposed conv kernel against `mx.conv_transpose1d` with groups = channels (bias added), and
    the dispatcher takes it on CUDA only."""
    from mlx_audio_lab.layers.cpu.conv import conv_transpose1d
    from mlx_audio_lab.layers.gpu.grouped_conv import depthwise_conv_transpose1d, gpu_depthwise_transposed_fits

    rng = np.random.default_rng(k * 7 + stride)
    C = 64
    x = mx.array(rng.standard_normal((2, 157, C), np.float32)).astype(dtype)
    w = mx.array(rng.standard_normal((C, k, 1), np.float32) / np.sqrt(k)).astype(dtype)
    b = mx.array(rng.standard_normal(C, np.float32))
    assert gpu_depthwise_transposed_fits(x, w, C)
    got = depthwise_conv_transpose1d(x, w, stride, padding, dilation, output_padding, b)
    want = mx.conv_transpose1d(x.astype(mx.float32), w.astype(mx.float32), stride=stride, padding=padding,
                               dilation=dilation, output_padding=output_padding, groups=C) + b
    assert got.shape == want.shape and got.dtype == dtype
    assert float(mx.abs(got.astype(mx.float32) - want).max()) <= tol * float(mx.abs(want).max())
    via = conv_transpose1d(x, w, stride, padding, dilation, output_padding, C, b)
    np.testing.assert_array_equal(np.array(via.astype(mx.float32)), np.array(got.astype(mx.float32)))
    monkeypatch.setenv(gpu.GPU_KERNELS_ENV, "0")
    assert not gpu_depthwise_transposed_fits(x, w, C)


@pytest.mark.parametrize("device", [mx.cpu, mx.gpu] if mx.cuda.is_available() else [mx.cpu])
def test_compiled_adain_chains_equal_the_plain_ops(device):
    """Kokoro's AdaIN + Snake and AdaIN + LeakyReLU, compiled for the GPU, against AdaIN1d then the activation op
    by op (on the CPU too: the compiled functions are plain MLX)."""
    from mlx_audio_lab.layers.gpu.elementwise import adain_leaky, adain_snake
    from mlx_audio_lab.models.tts.kokoro.modules import AdaIN1d

    rng = np.random.default_rng(3)
    norm = AdaIN1d(128, 96)
    norm.norm.weight, norm.norm.bias = (mx.array(rng.standard_normal(96, np.float32)) for _ in range(2))
    x = mx.array(3 * rng.standard_normal((2, 211, 96), np.float32) + 1)
    s = mx.array(rng.standard_normal((2, 128), np.float32))
    alpha = mx.array(rng.uniform(0.2, 2.0, 96).astype(np.float32))
    with mx.stream(device):
        y = norm(x, s)
        want_snake = y + mx.sin(alpha * y) ** 2 / alpha
        want_leaky = mx.where(y >= 0, y, 0.2 * y)
        got_snake = adain_snake(x, *norm.style_affine(s), alpha, mx.reciprocal(alpha))
        got_leaky = adain_leaky(x, *norm.style_affine(s), mx.array(0.2))
        assert float(mx.abs(got_snake - want_snake).max()) <= 1e-5 * float(mx.abs(want_snake).max())
        assert float(mx.abs(got_leaky - want_leaky).max()) <= 1e-5 * float(mx.abs(want_leaky).max())
    assert float(mx.abs(want_leaky).max()) > 1 and float((want_leaky < 0).sum()) > 0  # both branches taken


@pytest.mark.parametrize("eps", [1e-5, 1e-6])
def test_compiled_channel_group_norm_equals_the_plain_ops(eps):
    """wav2vec2's per-channel GroupNorm, compiled for the GPU, against the op-by-op one (CPU: plain MLX)."""
    from mlx_audio_lab.layers.groupnorm import _channel_norm, _channel_norm_compiled

    rng = np.random.default_rng(5)
    x = mx.array(3 * rng.standard_normal((2, 5000, 64), np.float32) + 2)
    w, b = (mx.array(rng.standard_normal(64, np.float32)) for _ in range(2))
    want = _channel_norm(x, w, b, eps)
    assert float(mx.abs(_channel_norm_compiled(x, w, b, eps) - want).max()) <= 1e-5 * float(mx.abs(want).max())


@cuda
@pytest.mark.parametrize("dtype, tol", [(mx.float32, 1e-5), (mx.bfloat16, 3e-2)])
@pytest.mark.parametrize("dilation", [1, 3, 9])
def test_snake_fused_residual_unit_equals_the_plain_ops(monkeypatch, dtype, tol, dilation):
    """SNAC's residual unit (Snake, depthwise k7 conv, Snake, 1x1 conv, residual) with both Snakes fused into the
    grouped conv kernel against the unit op by op (kernels off)."""
    from mlx_audio_lab.layers.gpu.grouped_conv import snake_fusion_fits
    from mlx_audio_lab.layers.snake import SnakeResidualUnit

    rng = np.random.default_rng(dilation)
    unit = SnakeResidualUnit(64, dilation=dilation, groups=64)
    unit.snake1.alpha = mx.array(rng.uniform(0.2, 3.0, 64).astype(np.float32))
    unit.snake2.alpha = mx.array(rng.uniform(0.2, 3.0, 64).astype(np.float32))
    unit.set_dtype(dtype)
    x = mx.array(rng.standard_normal((2, 999, 64), np.float32)).astype(dtype)
    assert snake_fusion_fits(x, unit.conv1.weight, 64)
    got = unit(x).astype(mx.float32)
    want = _plain(monkeypatch, lambda: unit(x)).astype(mx.float32)
    assert float(mx.abs(got - want).max()) <= tol * float(mx.abs(want).max())


@cuda
def test_kokoro_blocks_take_the_compiled_chain_on_cuda(monkeypatch):
    """`adain_snake` / `adain_leaky` give the plain ops' result with the GPU kernels on and off."""
    from mlx_audio_lab.models.tts.kokoro.modules import AdaIN1d, adain_leaky, adain_snake

    rng = np.random.default_rng(4)
    norm = AdaIN1d(64, 32)
    x = mx.array(rng.standard_normal((1, 97, 32), np.float32))
    s = mx.array(rng.standard_normal((1, 64), np.float32))
    alpha = mx.array(rng.uniform(0.2, 2.0, 32).astype(np.float32))
    fast = adain_snake(norm, x, s, alpha), adain_leaky(norm, x, s, 0.2)
    plain = _plain(monkeypatch, lambda: (adain_snake(norm, x, s, alpha), adain_leaky(norm, x, s, 0.2)))
    for f, p in zip(fast, plain):
        assert float(mx.abs(f - p).max()) <= 1e-5 * float(mx.abs(p).max())


def test_a_failing_kernel_is_turned_off_with_a_warning():
    """`self_checked`: a kernel whose check raises (a CUDA build error) or disagrees is off for the process, once
    warned; a passing one is on, the check run once."""
    calls = []

    def broken():
        raise RuntimeError("nvrtc: error")

    def passing():
        calls.append(1)
        return True

    with pytest.warns(UserWarning, match="broken_kernel turned off.*nvrtc"):
        assert not gpu.self_checked("broken_kernel", broken)
    assert not gpu.self_checked("broken_kernel", passing)
    with pytest.warns(UserWarning, match="wrong_kernel turned off"):
        assert not gpu.self_checked("wrong_kernel", lambda: False)
    assert gpu.self_checked("good_kernel", passing) and gpu.self_checked("good_kernel", passing)
    assert calls == [1]

    def inside_compile(x):  # a check reached while mx.compile traces: not decided, the plain op this time
        assert not gpu.self_checked("traced_kernel", lambda: bool(mx.all(x > -1)))
        return x

    mx.compile(inside_compile)(mx.ones(3))
    assert "traced_kernel" not in gpu._checked
    for name in ("broken_kernel", "wrong_kernel", "good_kernel"):
        gpu._checked.pop(name)
