"""The Conformer convolution module (Gulati et al., 2020): pointwise GLU, depthwise conv, BatchNorm, SiLU,
pointwise; channels-last. Names follow transformers' `ParakeetEncoderConvolutionModule` /
`FastSpeech2ConformerConvolutionModule`. w2v-BERT 2.0's variant: a causal depthwise conv and a LayerNorm."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .conv import Conv1d


class ConformerConvModule(nn.Module):
    """(B, T, C) -> (B, T, C); `valid` (B, T) bool zeroes padded steps before the depthwise conv."""

    def __init__(self, channels: int, kernel_size: int, bias: bool = True, norm: str = "batch", causal: bool = False,
                 eps: float = 1e-5):
        super().__init__()
        self.pointwise_conv1 = Conv1d(channels, 2 * channels, 1, bias=bias)
        self.left_pad = kernel_size - 1 if causal else 0  # causal: all the padding on the left
        self.depthwise_conv = Conv1d(channels, channels, kernel_size, padding=0 if causal else (kernel_size - 1) // 2,
                                        groups=channels, bias=bias)
        if norm not in ("batch", "layer"):
            raise ValueError(f"norm must be 'batch' or 'layer', got {norm!r}")
        self.norm = nn.BatchNorm(channels, eps=eps) if norm == "batch" else nn.LayerNorm(channels, eps=eps)
        self.pointwise_conv2 = Conv1d(channels, channels, 1, bias=bias)

    def __call__(self, x: mx.array, valid: mx.array | None = None) -> mx.array:
        x = nn.glu(self.pointwise_conv1(x), axis=-1)  # (B, T, C)
        if valid is not None:
            x = x * valid[..., None].astype(x.dtype)
        if self.left_pad:
            x = mx.pad(x, [(0, 0), (self.left_pad, 0), (0, 0)])
        x = nn.silu(self.norm(self.depthwise_conv(x)))
        return self.pointwise_conv2(x)
