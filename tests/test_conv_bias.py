"""Conv biases added inside the CPU conv paths (`layers/cpu/conv.conv1d(..., bias)`: in the direct dense kernel's
accumulators and window dot products, after the other paths) against `mx.conv1d` + bias, and the direct kernel's
reordered-weight cache."""

from __future__ import annotations

import mlx.core as mx
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.conv import Conv1d
from mlx_audio_lab.layers.cpu import native
from mlx_audio_lab.layers.cpu.conv import conv1d

pytestmark = pytest.mark.usefixtures("fast_math_on")

CASES = [(1, 4001, 32, 64, 4, 2, 1, 1, 1), (2, 1801, 20, 83, 5, 1, 6, 2, 1), (1, 70001, 1, 32, 7, 1, 3, 1, 1),
         (1, 3001, 32, 1, 7, 1, 3, 1, 1), (1, 9001, 8, 3, 16, 8, 4, 1, 1),  # window dot products (<= 4 outputs)
         (1, 1201, 64, 128, 8, 4, 2, 1, 1), (1, 700, 96, 512, 7, 1, 3, 1, 1),  # BLAS per-tap products
         (1, 5000, 16, 32, 1, 1, 0, 1, 1), (1, 3000, 24, 24, 7, 1, 3, 1, 24),  # pointwise, depthwise
         (1, 20001, 4, 8, 3, 1, 2, 2, 1)]  # few input channels, dilated: phase folding (every input: a fast path)


@pytest.mark.parametrize("batch, length, c_in, c_out, k, stride, padding, dilation, groups", CASES)
def test_conv_with_bias_equals_mlx(batch, length, c_in, c_out, k, stride, padding, dilation, groups):
    """Every CPU conv path with a bias (strided, odd lengths, padding, dilation, one input or output channel, a
    batch, depthwise groups) equals `mx.conv1d` + bias; the biases are large, so a missed or doubled one shows."""
    mx.random.seed(length + c_out)
    x = mx.random.normal((batch, length, c_in))
    w = mx.random.normal((c_out, k, c_in // groups)) / (k * c_in / groups) ** 0.5
    bias = 5.0 * mx.random.normal((c_out,))
    want = mx.conv1d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups) + bias
    assert fm.fast_math_active(x.size)
    got = conv1d(x, w, stride, padding, dilation, groups, bias)
    assert got.shape == want.shape
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())


def test_conv_layer_passes_its_bias_and_the_plain_path_matches():
    """`Conv1d` hands its bias to `conv1d` (the direct kernel adds it), equal to the plain MLX path's conv + bias;
    the reordered weight is made once per weight array and again for a new one."""
    if native.library() is None:
        pytest.skip("the direct conv kernels are not built (no C compiler)")
    layer = Conv1d(32, 64, 4, stride=2)
    layer.bias = mx.random.normal((64,))
    x = mx.random.normal((1, 6001, 32))
    got = layer(x)
    first = native._weights[(id(layer.weight), 64, False)][1]
    layer(x)
    assert native._weights[(id(layer.weight), 64, False)][1] is first
    fm.set_fast_math(False)
    want = layer(x)
    fm.set_fast_math(True)
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())
    layer.weight = 2.0 * layer.weight
    again = layer(x)
    assert float(mx.abs((again - layer.bias) - 2.0 * (want - layer.bias)).max()) <= 4e-6 * float(mx.abs(want).max())


@pytest.mark.parametrize("batch, length, c_in, c_out, k, stride, padding, output_padding", [
    (1, 3000, 64, 32, 4, 2, 1, 0),  # the direct kernel (polyphase, s * C_out <= 128)
    (1, 2001, 128, 64, 8, 4, 2, 1),  # BLAS, one product per block of s taps (small weight)
    (1, 150, 512, 256, 16, 8, 4, 0),  # BLAS, one product per tap (large weight)
    (1, 1000, 70, 10, 3, 4, 0, 3),  # k < stride, output_padding past the last tap: zero rows, bias added after
    (2, 999, 48, 24, 5, 2, 2, 1)])
def test_transposed_conv_with_bias_equals_mlx(batch, length, c_in, c_out, k, stride, padding, output_padding):
    """Transposed convs with a bias on each CPU path (the bias as the products' starting value, or added after
    where zero rows are appended) equal `mx.conv_transpose1d` + bias."""
    from mlx_audio_lab.layers.cpu.conv import conv_transpose1d

    mx.random.seed(length + k)
    x = mx.random.normal((batch, length, c_in))
    w = mx.random.normal((c_out, k, c_in)) / (k * c_in) ** 0.5
    bias = 5.0 * mx.random.normal((c_out,))
    want = mx.conv_transpose1d(x, w, stride=stride, padding=padding, output_padding=output_padding) + bias
    assert fm.fast_math_active()
    got = conv_transpose1d(x, w, stride, padding, 1, output_padding, 1, bias)
    assert got.shape == want.shape
    assert float(mx.abs(got - want).max()) <= 2e-6 * float(mx.abs(want).max())
