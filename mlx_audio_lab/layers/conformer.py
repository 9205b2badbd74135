"""The Conformer convolution module (Gulati et al., 2020): pointwise GLU, depthwise conv, BatchNorm, SiLU,
pointwise; channels-last. Names follow transformers' `ParakeetEncoderConvolutionModule` /
`FastSpeech2ConformerConvolutionModule`."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .conv import Conv1d


class ConformerConvModule(nn.Module):
    """(B, T, C) -> (B, T, C); `valid` (B, T) bool zeroes padded steps before the depthwise conv."""

    def __init__(self, channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.pointwise_conv1 = Conv1d(channels, 2 * channels, 1, bias=bias)
        self.depthwise_conv = Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2,
                                        groups=channels, bias=bias)
        self.norm = nn.BatchNorm(channels)
        self.pointwise_conv2 = Conv1d(channels, channels, 1, bias=bias)

    def __call__(self, x: mx.array, valid: mx.array | None = None) -> mx.array:
        x = nn.glu(self.pointwise_conv1(x), axis=-1)  # (B, T, C)
        if valid is not None:
            x = x * valid[..., None].astype(x.dtype)
        x = nn.silu(self.norm(self.depthwise_conv(x)))
        return self.pointwise_conv2(x)
