"""The conv layers' CPU rewrites (pointwise matmul, phase-folded dilation, overlap-add transposed conv) compute
what MLX's own conv ops compute, for every argument the ports use; small inputs keep the plain op."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.conv import Conv1d, ConvTranspose1d, conv1d, conv_transpose1d
from mlx_audio_lab.layers.cpu import native


def _close(fast: mx.array, plain: mx.array) -> None:
    assert fast.shape == plain.shape
    assert float(plain.std()) > 0.1  # the outputs vary
    assert float(mx.abs(fast - plain).max()) <= 2e-6 * float(mx.abs(plain).max())


def _refuse(*_a, **_k):
    raise AssertionError("the plain MLX op ran where the rewrite should have")


# (in, out, kernel, stride, padding, output_padding, groups): EnCodec/DAC/SNAC/Kokoro/Mimi cases and odd ones
TRANSPOSED = [(32, 16, 16, 8, 0, 0, 1), (24, 12, 16, 8, 4, 0, 1), (20, 10, 14, 7, 4, 0, 1), (16, 8, 20, 10, 5, 0, 1),
              (16, 16, 3, 2, 1, 1, 16), (32, 32, 4, 2, 0, 0, 32), (8, 6, 5, 2, 1, 1, 1), (8, 6, 3, 3, 0, 0, 1),
              (8, 6, 7, 1, 3, 0, 1)]


@pytest.mark.parametrize("c_in,c_out,k,stride,padding,output_padding,groups", TRANSPOSED)
def test_overlap_add_transposed_conv_equals_mlx(monkeypatch, c_in, c_out, k, stride, padding, output_padding, groups):
    mx.random.seed(1)
    x = mx.random.normal((2, 70_000 // c_in + 3, c_in))
    w = mx.random.normal((c_out, k, c_in // groups))
    with fm.plain_math():
        plain = conv_transpose1d(x, w, stride, padding, 1, output_padding, groups)
    assert plain.shape[1] == (x.shape[1] - 1) * stride - 2 * padding + k + output_padding
    monkeypatch.setattr(mx, "conv_transpose1d", _refuse)
    _close(conv_transpose1d(x, w, stride, padding, 1, output_padding, groups), plain)


def test_transposed_conv_layer_and_fallbacks(monkeypatch):
    mx.random.seed(2)
    layer = ConvTranspose1d(16, 8, 12, stride=6, padding=3)
    ref = nn.ConvTranspose1d(16, 8, 12, stride=6, padding=3)
    ref.update(layer.parameters())
    x = mx.random.normal((1, 5000, 16))
    _close(layer(x), ref(x))
    small = x[:, :10]  # short inputs take the rewrite too (MLX's kernel is slow for large weights at any length)
    want = ref(small)
    monkeypatch.setattr(mx, "conv_transpose1d", _refuse)
    got = layer(small)
    monkeypatch.undo()
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())
    grouped = ConvTranspose1d(16, 16, 4, stride=2, groups=4)  # neither dense nor depthwise: MLX's own op
    with fm.plain_math():
        plain = grouped(x)
    assert mx.array_equal(grouped(x), plain)


CONVS = [(8, 6, 1, 1, 0, 1, 1), (8, 6, 1, 2, 0, 1, 1), (16, 16, 7, 1, 9, 3, 1), (16, 16, 7, 1, 27, 9, 1),
         (16, 16, 7, 1, 6, 2, 4), (16, 16, 7, 1, 3, 1, 1), (16, 32, 4, 2, 1, 1, 1), (16, 16, 7, 1, 3, 1, 16),
         (16, 16, 9, 1, 4, 1, 16), (16, 16, 3, 1, 3, 3, 16), (16, 16, 4, 1, 0, 1, 16)]


@pytest.mark.parametrize("c_in,c_out,k,stride,padding,dilation,groups", CONVS)
def test_conv1d_rewrites_equal_mlx(c_in, c_out, k, stride, padding, dilation, groups):
    mx.random.seed(3)
    layer = Conv1d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = mx.random.normal((2, 70_000 // c_in + 5, c_in))
    with fm.plain_math():
        plain = layer(x)
    _close(layer(x), plain)
    assert mx.array_equal(layer(x[:, :50]), nn.Conv1d.__call__(layer, x[:, :50]))  # small inputs: the plain op


def test_pointwise_and_depthwise_convs_take_the_rewrite(monkeypatch):
    if native.library() is None:
        pytest.skip("the direct conv kernels are not built (no C compiler)")
    x = mx.random.normal((1, 9000, 16))
    monkeypatch.setattr(mx, "conv1d", _refuse)
    conv1d(x, mx.random.normal((8, 1, 16)))
    conv1d(x, mx.random.normal((16, 7, 1)), padding=3, groups=16)  # depthwise
    conv1d(x, mx.random.normal((8, 3, 16)), padding=1)  # an ordinary conv: k BLAS products (tap_sum_conv1d)
    conv1d(x, mx.random.normal((8, 3, 16)), padding=2, dilation=2)  # dilated: phase-folded, then the same
    mono = mx.random.normal((1, 70_000, 1))
    conv1d(mono, mx.random.normal((8, 7, 1)), padding=3)  # one input channel, few outputs: the direct kernel
    monkeypatch.setattr(native.KERNEL, "_lib", [None])  # no C compiler: MLX's own kernel is fine for one input channel
    with pytest.raises(AssertionError, match="plain MLX op"):
        conv1d(mono, mx.random.normal((8, 7, 1)), padding=3)


@pytest.mark.parametrize("batch,c_in,c_out,k,stride,padding,groups", [
    (1, 32, 1, 7, 1, 3, 1), (2, 8, 24, 5, 3, 0, 1), (1, 48, 16, 13, 2, 6, 1), (3, 128, 8, 2, 1, 0, 1),
    (1, 96, 96, 32, 1, 16, 4), (2, 48, 24, 5, 2, 1, 3)])  # grouped: wav2vec2's positional conv is (768, k 128, 16)
def test_tap_sum_conv_equals_mlx(batch, c_in, c_out, k, stride, padding, groups):
    """k strided BLAS products per group accumulated in place: every output length, stride, group count and batch
    as `mx.conv1d`."""
    from mlx_audio_lab.layers.cpu.conv import tap_sum_conv1d

    mx.random.seed(4)
    x = mx.random.normal((batch, 90_001 // c_in, c_in))
    w = mx.random.normal((c_out, k, c_in // groups)) / (k * c_in // groups) ** 0.5
    want = mx.conv1d(x, w, stride=stride, padding=padding, groups=groups)
    got = tap_sum_conv1d(x, w, stride, padding, groups)
    assert got.shape == want.shape and float(want.std()) > 0.5
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


@pytest.mark.parametrize("batch,length,c_in,c_out,k,stride,padding", [
    (1, 4001, 32, 16, 3, 1, 1), (2, 3000, 16, 8, 7, 1, 3), (1, 2999, 32, 64, 4, 2, 1), (1, 1203, 16, 32, 16, 8, 4),
    (2, 577, 24, 5, 5, 3, 0), (1, 2000, 32, 1, 7, 1, 3), (1, 901, 8, 12, 2, 1, 0), (3, 400, 12, 9, 3, 5, 2),
    (1, 9, 8, 8, 7, 1, 0)])  # odd lengths, stride above the kernel, one output channel, fewer frames than phases
def test_phase_gemm_conv_equals_mlx(batch, length, c_in, c_out, k, stride, padding):
    """One BLAS product per output phase over the whole kernel: every length, stride, padding and batch as
    `mx.conv1d`."""
    from mlx_audio_lab.layers.cpu.conv import phase_gemm_conv1d

    mx.random.seed(5)
    x = mx.random.normal((batch, length, c_in))
    w = mx.random.normal((c_out, k, c_in)) / (k * c_in) ** 0.5
    want = mx.conv1d(x, w, stride=stride, padding=padding)
    got = phase_gemm_conv1d(x, w, stride, padding)
    assert got.shape == want.shape and float(want.std()) > 0.5
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


def test_dense_convs_take_tap_products(monkeypatch):
    """Dense convs whose weight outgrows L2 take the per-tap products (dilated ones too, taps d apart, no phase
    folding), never the per-phase ones (measured no faster); smaller ones up to 192 outputs the direct kernel; all
    give MLX's result."""
    from mlx_audio_lab.layers.cpu import conv as cpu_conv

    calls: list[str] = []

    def counted(module, name: str):
        fn = getattr(module, name)
        return lambda *a, **k: calls.append(name) or fn(*a, **k)

    for name in ("phase_gemm_conv1d", "tap_sum_conv1d", "phase_folded_conv1d"):
        monkeypatch.setattr(cpu_conv, name, counted(cpu_conv, name))
    monkeypatch.setattr(native, "dense_conv1d", counted(native, "dense_conv1d"))
    mx.random.seed(6)
    cases = [((1, 600, 256), (256, 7, 256), 3, 1), ((1, 40, 512), (512, 7, 512), 3, 1),
             ((1, 900, 208), (208, 7, 208), 9, 3)]  # (x, weight, padding, dilation): above the direct kernel's sizes
    wide = [((1, 6000, 32), (48, 3, 32), 1, 1), ((1, 3000, 96), (96, 11, 96), 25, 5),
            ((1, 700, 192), (192, 7, 192), 3, 1)]
    for x_shape, w_shape, padding, dilation in cases + (wide if native.library() is not None else []):
        x, w = mx.random.normal(x_shape), mx.random.normal(w_shape) / (w_shape[1] * w_shape[2]) ** 0.5
        got = cpu_conv.conv1d(x, w, padding=padding, dilation=dilation)
        want = mx.conv1d(x, w, padding=padding, dilation=dilation)
        assert got.shape == want.shape
        assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())
    assert calls == ["tap_sum_conv1d"] * 3 + (["dense_conv1d"] * 3 if native.library() is not None else [])


@pytest.mark.parametrize("batch,c_in,c_out,k,stride", [(2, 32, 16, 16, 8), (1, 24, 12, 7, 3), (3, 8, 6, 3, 3),
                                                       (1, 16, 8, 5, 1), (2, 16, 1, 20, 10), (1, 512, 256, 20, 10),
                                                       (2, 256, 64, 3, 5), (1, 512, 64, 7, 3)])  # last 3: per tap
def test_gemm_transposed_conv_equals_overlap_add(batch, c_in, c_out, k, stride):
    """The BLAS products accumulated in place (per block of s taps, or per tap for a weight larger than the input)
    give the matmul + shifted-add result, batches and kernels that are not a multiple of the stride included."""
    from mlx_audio_lab.layers.cpu.conv import gemm_conv_transpose1d, overlap_add_conv_transpose1d

    mx.random.seed(7)
    x = mx.random.normal((batch, 40_000 // c_in + 1, c_in))
    w = mx.random.normal((c_out, k, c_in))
    want = overlap_add_conv_transpose1d(x, w, stride)
    got = gemm_conv_transpose1d(x, w, stride)
    assert got.shape == want.shape and float(want.std()) > 0.5
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


@pytest.mark.parametrize("batch,length,c_in,c_out,k,stride,padding,dilation,groups", [
    (2, 3001, 16, 16, 7, 1, 27, 9, 1), (1, 2000, 16, 16, 7, 1, 6, 2, 4), (1, 999, 16, 8, 3, 2, 5, 3, 1),
    (1, 40, 16, 16, 11, 1, 25, 5, 1), (2, 5, 8, 8, 3, 1, 9, 1, 1), (1, 700, 32, 24, 5, 3, 4, 2, 2)])
def test_dilated_and_padded_tap_sum_equals_mlx(batch, length, c_in, c_out, k, stride, padding, dilation, groups):
    """Taps d frames apart on the unpadded input, the outputs that reach into the padding computed apart: padding
    past the kernel, inputs shorter than the padding, strides with dilation and groups as `mx.conv1d`."""
    from mlx_audio_lab.layers.cpu.conv import tap_sum_conv1d

    mx.random.seed(8)
    x = mx.random.normal((batch, length, c_in))
    w = mx.random.normal((c_out, k, c_in // groups)) / (k * c_in // groups) ** 0.5
    want = mx.conv1d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = tap_sum_conv1d(x, w, stride, padding, groups, dilation)
    assert got.shape == want.shape and float(want.std()) > 0.3
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


NATIVE = [(1, 3001, 32, 16, 3, 1, 1, 1), (2, 1001, 16, 8, 7, 1, 3, 1), (1, 999, 32, 24, 4, 2, 1, 1),
          (1, 1203, 16, 32, 16, 8, 4, 1), (2, 57, 24, 5, 5, 3, 0, 1), (1, 9, 8, 8, 7, 1, 6, 1),
          (1, 5, 8, 3, 3, 1, 9, 1), (2, 300, 16, 16, 7, 1, 27, 9), (1, 100, 16, 8, 3, 2, 5, 3),
          (1, 4000, 1, 32, 7, 1, 3, 1), (1, 4000, 96, 1, 7, 1, 3, 1), (1, 2000, 32, 33, 7, 2, 3, 2),
          (2, 1001, 16, 3, 7, 1, 3, 1), (1, 999, 32, 2, 4, 2, 1, 1), (1, 9, 8, 1, 7, 1, 6, 1),
          (1, 601, 8, 4, 16, 8, 4, 1), (1, 700, 16, 2, 3, 1, 3, 3),  # these five: <= 4 outputs (window dot products)
          (1, 3001, 48, 48, 11, 1, 25, 5), (2, 1500, 96, 96, 7, 1, 3, 1), (1, 999, 64, 128, 4, 2, 1, 1),
          (1, 500, 40, 72, 7, 3, 9, 3), (1, 800, 24, 176, 3, 1, 1, 1), (1, 60, 1, 64, 7, 1, 3, 1)]  # wide blocks


@pytest.mark.parametrize("batch,length,c_in,c_out,k,stride,padding,dilation", NATIVE)
def test_native_kernels_equal_mlx(batch, length, c_in, c_out, k, stride, padding, dilation):
    """The direct C kernels (dense with few outputs: 16-wide output tiles or window dot products; depthwise) give
    `mx.conv1d`'s result: strides, dilations, padding past the kernel, odd lengths, one input or output channel."""
    if native.library() is None:
        pytest.skip("the direct conv kernels are not built (no C compiler)")
    mx.random.seed(9)
    x = mx.random.normal((batch, length, c_in))
    w = mx.random.normal((c_out, k, c_in)) / (k * c_in) ** 0.5
    want = mx.conv1d(x, w, stride=stride, padding=padding, dilation=dilation)
    got = native.dense_conv1d(x, w, stride, padding, dilation)
    assert got.shape == want.shape and float(want.std()) > 0.3
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())
    if stride == 1:
        taps = mx.random.normal((c_in, k, 1))
        want = mx.conv1d(x, taps, padding=padding, dilation=dilation, groups=c_in)
        got = native.depthwise_conv1d(x, taps, padding, dilation)
        assert got.shape == want.shape and float(want.std()) > 0.3
        assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


@pytest.mark.parametrize("block", [(1, 4), (1, 6), (1, 8), (1, 12), (1, 16), (2, 4), (2, 6), (2, 8), (2, 12), (3, 4),
                                   (3, 6), (3, 8), (4, 4), (4, 6), (5, 8)])  # (5, 8): none built, the 2 x 8 one runs
def test_every_register_block_equals_mlx(block):
    """Each register block of the dense kernel (tiles of 16 outputs x frames), with a narrower last tile group,
    partial tiles and a time axis that no block count divides, gives `mx.conv1d`'s result."""
    if native.library() is None:
        pytest.skip("the direct conv kernels are not built (no C compiler)")
    mx.random.seed(11)
    x = mx.random.normal((2, 1237, 20))
    w = mx.random.normal((83, 5, 20)) / 10.0  # 83 outputs: 6 tiles, the last holding 3
    want = mx.conv1d(x, w, padding=6, dilation=2)
    got = native.dense_conv1d(x, w, 1, 6, 2, block=block)
    assert got.shape == want.shape and float(want.std()) > 0.3
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


def test_native_kernels_switch_off(monkeypatch):
    """MLX_AUDIO_LAB_NO_NATIVE=1 (or no compiler) leaves the BLAS / compiled paths, with the same result."""
    monkeypatch.setenv(native.OFF_ENV, "1")
    monkeypatch.setattr(native.KERNEL, "_lib", [])
    assert native.library() is None
    mx.random.seed(10)
    x = mx.random.normal((1, 9000, 16))
    for w, groups in ((mx.random.normal((8, 3, 16)), 1), (mx.random.normal((16, 7, 1)), 16)):
        want = mx.conv1d(x, w, padding=3, groups=groups)
        got = conv1d(x, w, padding=3, groups=groups)
        assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())
