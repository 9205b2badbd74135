"""SEANet-style convolutions (EnCodec, Mimi, DAC-like codecs): 1-D convs that pad themselves, causal or not.

Channels-last throughout: inputs are (B, T, C). Padding follows transformers' `EncodecConv1d` /
`EncodecConvTranspose1d`, so a strided stack maps T samples to ceil(T / stride) frames exactly like it.
`Conv1d` / `ConvTranspose1d` are MLX's, computed by the CPU rewrites of `layers/cpu/conv.py` (and, on the GPU,
very long inputs in time chunks: `long_conv.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mlx.core as mx
import mlx.nn as nn

from .cpu import native
from .cpu.conv import conv1d, conv_transpose1d, pointwise_sum
from .cpu.gemv import blas_gemm
from .fast_math import ELU, elu, fast_math_active
from .groupnorm import TimeGroupNorm
from .long_conv import chunked_conv1d, needs_chunks


def pad1d(x: mx.array, left: int, right: int, mode: str = "constant") -> mx.array:
    """Pad the time axis of (B, T, C); reflect on a signal shorter than the pad zero-extends it first."""
    if left == 0 and right == 0:
        return x
    if padded_on_cpu(x, left, right, mode):
        return native.pad_act(x, left, right, mode)
    if mode != "reflect":
        return mx.pad(x, [(0, 0), (left, right), (0, 0)], mode="edge" if mode == "replicate" else "constant")
    length = x.shape[1]
    extra = max(left, right) - length + 1 if length <= max(left, right) else 0
    if extra:
        x = mx.pad(x, [(0, 0), (0, extra), (0, 0)])
    x = mx.pad(x, [(0, 0), (left, right), (0, 0)], mode="reflect")
    return x[:, : x.shape[1] - extra] if extra else x


def padded_on_cpu(x: mx.array, left: int, right: int, mode: str) -> bool:
    """Whether `pad1d` pads on the direct kernel (`cpu/native.pad_act`, one pass): float32 on the CPU with the fast
    paths and kernels on, a reflect pad shorter than the signal (MLX's reflect pad: ~3x slower)."""
    return (x.ndim == 3 and x.dtype == mx.float32 and fast_math_active(x.size) and native.library() is not None
            and (mode != "reflect" or x.shape[1] > max(left, right)))


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

    def pads(self, length: int) -> tuple[int, int]:
        """(left, right) time padding for an input of `length` frames."""
        extra = extra_padding(length, self.kernel, self.stride, self.padding_total)
        if self.causal:
            return self.padding_total, extra
        right = self.padding_total // 2
        return self.padding_total - right, right + extra

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C_in) -> (B, ceil(T / stride), C_out)."""
        x = self.conv(pad1d(x, *self.pads(x.shape[1]), self.pad_mode))
        return self.norm(x) if "norm" in self else x

    def after_elu(self, x: mx.array) -> mx.array:
        """`self(elu(x))` (ELU alpha 1); on the CPU the ELU and the padding are one pass (`cpu/native.pad_act`)."""
        left, right = self.pads(x.shape[1])
        if not padded_on_cpu(x, left, right, self.pad_mode):
            return self(ELU()(x))
        x = self.conv(native.pad_act(x, left, right, self.pad_mode, elu=True))
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


def run_layers(layers: list[nn.Module], x: mx.array, tapped: Callable[[int, mx.array], mx.array] | None = None
               ) -> mx.array:
    """x through the layers in order, `tapped(i, output)` after each but the ELUs; an ELU (alpha 1) followed by
    a `StreamableConv1d` runs as the conv's `after_elu` (the ELU fused into its padding pass on the CPU)."""
    i = 0
    while i < len(layers):
        layer = layers[i]
        if (isinstance(layer, nn.ELU) and layer._alpha == 1.0 and i + 1 < len(layers)
                and isinstance(layers[i + 1], StreamableConv1d)):
            i += 1
            x = layers[i].after_elu(x)
        else:
            x = layer(x)
        if tapped is not None and not isinstance(layers[i], nn.ELU):
            x = tapped(i, x)
        i += 1
    return x


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
        if self._fused_tail(x):  # CPU: the last ELU, the last kernel-1 conv, the shortcut and the sum in 2 passes
            h = elu(run_layers(self.block[:-2], x))
            last = self.block[-1].conv
            terms = [(h, last.weight)]
            if "shortcut" in self:
                terms.append((x, self.shortcut.conv.weight))
            biases = [c.bias for c in (last, self.shortcut.conv if "shortcut" in self else None)
                      if c is not None and "bias" in c]
            return pointwise_sum(terms, sum(biases[1:], biases[0]) if biases else None,
                                 None if "shortcut" in self else x)
        h = run_layers(self.block, x)
        return (self.shortcut(x) if "shortcut" in self else x) + h

    def _fused_tail(self, x: mx.array) -> bool:
        """Whether the block ends ELU (alpha 1), a plain kernel-1 conv, with a plain kernel-1 shortcut or none,
        float32 on the CPU with the fast paths, the BLAS and the direct kernels (`cpu/conv.pointwise_sum`)."""
        def plain_k1(m: nn.Module) -> bool:
            return (isinstance(m, StreamableConv1d) and "norm" not in m and m.conv.weight.shape[1] == 1
                    and m.conv.stride == 1 and m.conv.groups == 1 and m.conv.weight.dtype == mx.float32)

        return (len(self.block) >= 2 and isinstance(self.block[-2], nn.ELU) and self.block[-2]._alpha == 1.0
                and plain_k1(self.block[-1]) and ("shortcut" not in self or plain_k1(self.shortcut))
                and x.dtype == mx.float32 and fast_math_active(x.size) and native.library() is not None
                and blas_gemm() is not None)


class Conv1d(nn.Conv1d):
    """`nn.Conv1d` (same parameters) computed by `conv1d`: the CPU's slow kernel cases rewritten."""

    def __call__(self, x: mx.array) -> mx.array:
        if needs_chunks(x):  # the GPU's very long inputs go in time chunks
            y = chunked_conv1d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
            return y + self.bias if "bias" in self else y
        return conv1d(x, self.weight, self.stride, self.padding, self.dilation, self.groups,
                      self.bias if "bias" in self else None)


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
        return conv_transpose1d(x, self.weight, self.stride, self.padding, self.dilation, self.output_padding,
                                self.groups, self.bias if "bias" in self else None)
