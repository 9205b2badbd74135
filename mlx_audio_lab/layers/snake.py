"""Snake activation (Ziyin et al., 2020), BigVGAN's SnakeBeta, and the Snake residual unit of DAC-style codecs.

Channels-last: inputs are (B, T, C); `alpha` (and `beta`) are stored per channel as (C,) (PyTorch keeps them as
(1, C, 1) in DAC/SNAC, (C,) in BigVGAN). With `logscale` the stored values are logarithms (BigVGAN's
`snake_logscale`): the activation uses exp(alpha), exp(beta).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from . import fast_math
from .conv import Conv1d
from .cpu import native
from .gpu import elementwise as gpu_elementwise
from .gpu import gpu_kernels_active
from .gpu.grouped_conv import grouped_conv1d, snake_fusion_fits


def snake(x: mx.array, alpha: mx.array, eps: float = 1e-9, beta: mx.array | None = None) -> mx.array:
    """x + 1 / (alpha + eps) * sin^2(alpha x) (SnakeBeta: 1 / (beta + eps)), alpha broadcast over the last
    (channel) axis (fast on the CPU: the direct kernel of `cpu/native.py` where built, else compiled MLX ops)."""
    scale = alpha if beta is None else beta
    if (x.dtype == mx.float32 and alpha.dtype == scale.dtype == mx.float32 and alpha.size == scale.size == x.shape[-1]
            and fast_math.fast_math_active(x.size) and native.library() is not None):
        return native.snake(x, alpha, mx.reciprocal(scale + eps) if eps else mx.reciprocal(scale))
    if gpu_kernels_active():  # one fused kernel on the GPU
        return gpu_elementwise.snake(x, alpha, mx.reciprocal(scale + eps) if eps else mx.reciprocal(scale))
    return fast_math.snake(x, alpha, eps, beta)


class Snake1d(nn.Module):
    """Snake with one learned frequency `alpha` per channel (stored as log(alpha) when `logscale`)."""

    def __init__(self, channels: int, logscale: bool = False):
        super().__init__()
        self.logscale = logscale
        self.alpha = mx.zeros((channels,)) if logscale else mx.ones((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T, C)."""
        return snake(x, mx.exp(self.alpha) if self.logscale else self.alpha)

    def coefficients(self) -> tuple[mx.array, mx.array]:
        """(alpha, 1 / (alpha + 1e-9)) per channel in float32, as `snake` uses them (for fused kernels)."""
        alpha = (mx.exp(self.alpha) if self.logscale else self.alpha).astype(mx.float32)
        return alpha, mx.reciprocal(alpha + 1e-9)


class SnakeBeta(nn.Module):
    """Snake whose periodic term has its own magnitude: x + sin^2(alpha x) / beta (BigVGAN), per channel."""

    def __init__(self, channels: int, logscale: bool = False):
        super().__init__()
        self.logscale = logscale
        init = mx.zeros if logscale else mx.ones
        self.alpha, self.beta = init((channels,)), init((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T, C)."""
        alpha, beta = (mx.exp(self.alpha), mx.exp(self.beta)) if self.logscale else (self.alpha, self.beta)
        return snake(x, alpha, beta=beta)


class SnakeResidualUnit(nn.Module):
    """snake -> conv(k, dilation, 'same' padding, groups) -> snake -> conv(1), plus the input (DAC's unit)."""

    def __init__(self, dim: int, dilation: int = 1, kernel_size: int = 7, groups: int = 1):
        super().__init__()
        pad = (kernel_size - 1) * dilation // 2
        self.snake1 = Snake1d(dim)
        self.conv1 = Conv1d(dim, dim, kernel_size, padding=pad, dilation=dilation, groups=groups)
        self.snake2 = Snake1d(dim)
        self.conv2 = Conv1d(dim, dim, 1)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, dim) -> (B, T, dim); the input is centre-cropped if the convs shortened it (even kernels).
        On a CUDA GPU a grouped conv1 (SNAC's depthwise) runs with both Snakes fused into its kernel."""
        c1 = self.conv1
        if c1.groups > 1 and snake_fusion_fits(x, c1.weight, c1.groups):
            h = grouped_conv1d(x, c1.weight, c1.stride, c1.padding, c1.dilation, c1.groups,
                               c1.bias if "bias" in c1 else None, pre=self.snake1.coefficients(),
                               post=self.snake2.coefficients())
            y = self.conv2(h)
        else:
            y = self.conv2(self.snake2(self.conv1(self.snake1(x))))
        crop = (x.shape[1] - y.shape[1]) // 2
        if crop > 0:
            x = x[:, crop:-crop]
        return x + y
