"""SEANet-style convolutions (EnCodec, Mimi, DAC-like codecs): 1-D convs that pad themselves, causal or not.

Channels-last throughout: inputs are (B, T, C). Padding follows transformers' `EncodecConv1d` /
`EncodecConvTranspose1d`, so a strided stack maps T samples to ceil(T / stride) frames exactly like it.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from .fast_math import ELU, fast_math_active
from .groupnorm import TimeGroupNorm


def pad1d(x: mx.array, left: int, right: int, mode: str = "constant") -> mx.array:
    """Pad the time axis of (B, T, C); reflect on a signal shorter than the pad zero-extends it first."""
    if left == 0 and right == 0:
        return x
    if mode != "reflect":
        return mx.pad(x, [(0, 0), (left, right), (0, 0)], mode="edge" if mode == "replicate" else "constant")
    length = x.shape[1]
    extra = max(left, right) - length + 1 if length <= max(left, right) else 0
    if extra:
        x = mx.pad(x, [(0, 0), (0, extra), (0, 0)])
    x = mx.pad(x, [(0, 0), (left, right), (0, 0)], mode="reflect")
    return x[:, : x.shape[1] - extra] if extra else x


def extra_padding(length: int, kernel: int, stride: int, padding_total: int) -> int:
    """Right padding so the last window is full (the `pad_for_conv1d` rule): output ceil-frames."""
    n_frames = -(-(length - kernel + padding_total) // stride) + 1  # ceil((L - k + p) / s) + 1
    ideal = (n_frames - 1) * stride + kernel - padding_total
    return ideal - length


class StreamableConv1d(nn.Module):
    """Conv1d that pads itself ('same'-like; causal puts all fixed padding on the left), + optional GroupNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                 causal: bool = False, pad_mode: str = "reflect", norm: str = "weight_norm", bias: bool = True):
        super().__init__()
        self.conv = Conv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, bias=bias)
        if norm == "time_group_norm":
            self.norm = TimeGroupNorm(out_channels)
        elif norm not in ("weight_norm", "none"):
            raise ValueError(f"norm must be 'weight_norm', 'time_group_norm' or 'none', got {norm!r}")
        self.causal, self.pad_mode, self.stride = causal, pad_mode, stride
        self.kernel = (kernel_size - 1) * dilation + 1  # effective kernel with dilation
        self.padding_total = self.kernel - stride

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C_in) -> (B, ceil(T / stride), C_out)."""
        extra = extra_padding(x.shape[1], self.kernel, self.stride, self.padding_total)
        if self.causal:
            left, right = self.padding_total, extra
        else:
            right = self.padding_total // 2
            left, right = self.padding_total - right, right + extra
        x = self.conv(pad1d(x, left, right, self.pad_mode))
        return self.norm(x) if "norm" in self else x


class StreamableConvTranspose1d(nn.Module):
    """ConvTranspose1d that trims its fixed padding (causal: `trim_right_ratio` of it on the right)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 causal: bool = False, trim_right_ratio: float = 1.0, norm: str = "weight_norm", bias: bool = True,
                 groups: int = 1):
        super().__init__()
        self.conv = ConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=bias)
        if norm == "time_group_norm":
            self.norm = TimeGroupNorm(out_channels)
        padding_total = kernel_size - stride
        self.right = math.ceil(padding_total * trim_right_ratio) if causal else padding_total // 2
        self.left = padding_total - self.right

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C_in) -> (B, T * stride, C_out)."""
        x = self.conv(x)
        if "norm" in self:
            x = self.norm(x)
        return x[:, self.left : x.shape[1] - self.right]


class SEANetResnetBlock(nn.Module):
    """ELU -> conv(k, dilation) -> ELU -> conv(1), plus a shortcut (1x1 conv or identity).

    `block` keeps transformers' indices (ELUs at even positions, convs at odd), so weights load by name.
    """

    def __init__(self, dim: int, kernel_sizes: tuple[int, ...], dilations: tuple[int, ...], compress: int = 2,
                 true_skip: bool = False, **conv_kw):
        super().__init__()
        hidden = dim // compress
        block: list[nn.Module] = []
        for i, (k, d) in enumerate(zip(kernel_sizes, dilations)):
            c_in = dim if i == 0 else hidden
            c_out = dim if i == len(kernel_sizes) - 1 else hidden
            block += [ELU(), StreamableConv1d(c_in, c_out, k, dilation=d, **conv_kw)]
        self.block = block
        if not true_skip:
            self.shortcut = StreamableConv1d(dim, dim, 1, **conv_kw)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, dim) -> (B, T, dim)."""
        h = x
        for layer in self.block:
            h = layer(h)
        return (self.shortcut(x) if "shortcut" in self else x) + h


def phase_folded_conv1d(x: mx.array, weight: mx.array, dilation: int, padding: int, groups: int = 1) -> mx.array:
    """A stride-1 conv1d with dilation d computed as an undilated conv over the d interleaved time phases.

    Output t = m*d + r sums w_j x[(m + j)*d + r]: an ordinary conv over phase r. Same sums as the dilated conv
    (float32 rounding aside); MLX's CPU dilated conv1d is ~150x slower than its undilated one.
    """
    B, T, C = x.shape
    k = weight.shape[1]
    x = mx.pad(x, [(0, 0), (padding, padding + (-(T + 2 * padding)) % dilation), (0, 0)])
    n = x.shape[1] // dilation
    out_len = T + 2 * padding - dilation * (k - 1)
    phases = x.reshape(B, n, dilation, C).transpose(0, 2, 1, 3).reshape(B * dilation, n, C)
    y = mx.conv1d(phases, weight, groups=groups)
    m, O = y.shape[1], y.shape[2]
    return y.reshape(B, dilation, m, O).transpose(0, 2, 1, 3).reshape(B, m * dilation, O)[:, :out_len]


def pointwise_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0) -> mx.array:
    """A kernel-1 conv1d as one 2-D matmul over all frames (MLX's CPU conv copies its input first: ~2x slower)."""
    if padding:
        x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    if stride > 1:
        x = x[:, ::stride]
    B, T, C = x.shape
    return (x.reshape(B * T, C) @ weight.reshape(weight.shape[0], C).T).reshape(B, T, -1)


def depthwise_conv1d(x: mx.array, weight: mx.array, padding: int = 0, dilation: int = 1) -> mx.array:
    """A stride-1 depthwise conv1d (groups = channels, weight (C, k, 1)) as k shifted multiply-adds."""
    k = weight.shape[1]
    if padding:
        x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    length = x.shape[1] - dilation * (k - 1)
    taps = weight[:, :, 0].T  # (k, C)
    y = x[:, :length] * taps[0]
    for j in range(1, k):
        y = y + x[:, j * dilation : j * dilation + length] * taps[j]
    return y


def conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
           groups: int = 1) -> mx.array:
    """`mx.conv1d` (same arguments and result), with the slow cases of MLX's CPU kernel rewritten on the CPU."""
    # gate on the input or the weight: a short input through a large dilated kernel is slow too (BigVGAN's first
    # stage, 64 frames x 768 channels, k 11, dilation 5: 3.4 s in MLX's kernel, 0.15 s phase-folded)
    if fast_math_active(max(x.size, weight.size)):
        if weight.shape[1] == 1 and groups == 1:
            return pointwise_conv1d(x, weight, stride, padding)
        if groups > 1 and groups == x.shape[-1] == weight.shape[0] and stride == 1:
            return depthwise_conv1d(x, weight, padding, dilation)
        if dilation > 1 and stride == 1:
            return phase_folded_conv1d(x, weight, dilation, padding, groups)
    return mx.conv1d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)


def overlap_add_conv_transpose1d(x: mx.array, weight: mx.array, stride: int, groups: int = 1) -> mx.array:
    """The full transposed conv (no padding): each frame times the kernel gives k samples, overlap-added.

    Input frame t lands on outputs t*s .. t*s + k - 1; with the kernel zero-padded to q*s taps that is q blocks
    of s samples, block j shifted j frames: one matmul (or, depthwise, one product) and q shifted adds.
    MLX's CPU `conv_transpose1d` is ~150x slower at codec sizes. Returns (B, (T + q - 1) * s, C_out).
    """
    B, T, C = x.shape
    O, k, _ = weight.shape
    q = -(-k // stride)
    if q * stride > k:
        weight = mx.pad(weight, [(0, 0), (0, q * stride - k), (0, 0)])
    if groups == 1:
        if weight.size < B * T * q * stride * O:  # lay out the (smaller) weight so the product needs no transpose
            w = weight.reshape(O, q * stride, C).transpose(1, 0, 2).reshape(q * stride * O, C)
            z = (x.reshape(B * T, C) @ w.T).reshape(B, T, q, stride, O)
        else:
            z = (x.reshape(B * T, C) @ weight.reshape(O * q * stride, C).T).reshape(B, T, O, q, stride)
            z = z.transpose(0, 1, 3, 4, 2)
    else:  # depthwise: out channel c = in channel c times its own kernel
        z = (x[:, :, None, :] * weight[:, :, 0].T).reshape(B, T, q, stride, O)
    y = z[:, :, 0]
    if q > 1:
        y = sum((mx.pad(z[:, :, j], [(0, 0), (j, q - 1 - j), (0, 0), (0, 0)]) for j in range(1, q)),
                mx.pad(y, [(0, 0), (0, q - 1), (0, 0), (0, 0)]))
    return y.reshape(B, (T + q - 1) * stride, O)


def conv_transpose1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
                     output_padding: int = 0, groups: int = 1) -> mx.array:
    """`mx.conv_transpose1d` (same arguments and result); on the CPU computed by `overlap_add_conv_transpose1d`."""
    O, k, c_per_group = weight.shape
    depthwise = groups == x.shape[-1] == O and c_per_group == 1
    # any size: MLX's CPU kernel is slow even for a short input when the weight is large (Mimi's, SNAC's first
    # upsampler: 50 frames x 1024 channels, 0.87 s vs 2 ms)
    if not fast_math_active() or dilation != 1 or (groups != 1 and not depthwise):
        return mx.conv_transpose1d(x, weight, stride=stride, padding=padding, dilation=dilation,
                                   output_padding=output_padding, groups=groups)
    y = overlap_add_conv_transpose1d(x, weight, stride, groups)
    length = (x.shape[1] - 1) * stride - 2 * padding + k + output_padding
    if padding + length > y.shape[1]:  # output_padding reaches past the last tap: zeros
        y = mx.pad(y, [(0, 0), (0, padding + length - y.shape[1]), (0, 0)])
    return y[:, padding : padding + length]


class Conv1d(nn.Conv1d):
    """`nn.Conv1d` (same parameters) computed by `conv1d`: the CPU's slow kernel cases rewritten."""

    def __call__(self, x: mx.array) -> mx.array:
        y = conv1d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        return y + self.bias if "bias" in self else y


class ConvTranspose1d(nn.Module):
    """`nn.ConvTranspose1d` with groups; weight (out, k, in / groups), computed by `conv_transpose1d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, output_padding: int = 0, groups: int = 1, bias: bool = True):
        super().__init__()
        scale = math.sqrt(1.0 / (in_channels * kernel_size))
        self.weight = mx.random.uniform(-scale, scale, (out_channels, kernel_size, in_channels // groups))
        if bias:
            self.bias = mx.zeros((out_channels,))
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding, self.groups = output_padding, groups

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C_in) -> (B, (T - 1) * stride - 2 * padding + dilation * (k - 1) + 1 + output_padding, C_out)."""
        y = conv_transpose1d(x, self.weight, self.stride, self.padding, self.dilation, self.output_padding,
                             self.groups)
        return y + self.bias if "bias" in self else y
