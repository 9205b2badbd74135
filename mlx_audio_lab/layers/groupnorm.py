"""GroupNorm with one group per channel (each channel normalized over time), as wav2vec2-style encoders use.

Statistics are summed in blocks (pairwise), since a plain float32 sum over tens of thousands of
frames drifts by ~1e-5 relative, far above what parity with PyTorch allows.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .gpu import gpu_kernels_active

BLOCK = 64


def blocked_sum(x: mx.array) -> mx.array:
    """Sum over axis 1 of (B, T, C) in blocks of BLOCK frames, then over blocks; keeps dims."""
    B, T, C = x.shape
    pad = (-T) % BLOCK
    if pad:
        x = mx.concatenate([x, mx.zeros((B, pad, C), x.dtype)], axis=1)
    return x.reshape(B, -1, BLOCK, C).sum(axis=2).sum(axis=1, keepdims=True)


class ChannelGroupNorm(nn.Module):
    """`torch.nn.GroupNorm(C, C)` on channels-last input (B, T, C): per-channel mean/variance over T."""

    def __init__(self, dims: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.eps = eps
        if affine:
            self.weight = mx.ones((dims,))
            self.bias = mx.zeros((dims,))

    def __call__(self, x: mx.array) -> mx.array:
        weight, bias = (self.weight, self.bias) if "weight" in self else (None, None)
        if gpu_kernels_active() and weight is not None:  # one compiled function: ~10 launches -> the reductions + 1
            return _channel_norm_compiled(x, weight, bias, self.eps)
        return _channel_norm(x, weight, bias, self.eps)


def _channel_norm(x: mx.array, weight: mx.array | None, bias: mx.array | None, eps: float) -> mx.array:
    """Each channel of (B, T, C) normalised over time (float32 statistics, blocked sums), then the affine map."""
    T = x.shape[1]
    xf = x.astype(mx.float32)
    mean = blocked_sum(xf) / T
    d = xf - mean
    var = blocked_sum(d * d) / T
    y = (d * mx.rsqrt(var + eps)).astype(x.dtype)
    return y if weight is None else y * weight + bias


@mx.compile
def _channel_norm_compiled(x: mx.array, weight: mx.array, bias: mx.array, eps: float) -> mx.array:
    """`_channel_norm` compiled (the GPU's path: element-wise steps fused between the reductions)."""
    return _channel_norm(x, weight, bias, eps)


class TimeGroupNorm(ChannelGroupNorm):
    """`torch.nn.GroupNorm(1, C)` on channels-last input (B, T, C): one mean/variance over time and channels
    (EnCodec's `time_group_norm`), summed in blocks like `ChannelGroupNorm`."""

    def __call__(self, x: mx.array) -> mx.array:
        n = x.shape[1] * x.shape[2]
        xf = x.astype(mx.float32)
        mean = blocked_sum(xf).sum(axis=2, keepdims=True) / n
        d = xf - mean
        var = blocked_sum(d * d).sum(axis=2, keepdims=True) / n
        y = (d * mx.rsqrt(var + self.eps)).astype(x.dtype)
        return y * self.weight + self.bias if "weight" in self else y
