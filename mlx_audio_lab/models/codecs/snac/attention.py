"""SNAC's local windowed self-attention with rotary positions (its `LocalMHA`), channels-last."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....layers.fast_math import softmax


class SinusoidalEmbeddings(nn.Module):
    """Rotary frequencies; `inv_freq` is a checkpoint buffer upstream, so it is loaded, not recomputed."""

    def __init__(self, dim: int):
        super().__init__()
        self.inv_freq = 1.0 / (10000 ** (mx.arange(0, dim, 2).astype(mx.float32) / dim))

    def __call__(self, n: int) -> mx.array:
        """(n, dim) angles: position x frequency, the half-table repeated."""
        freqs = mx.arange(n).astype(mx.float32)[:, None] * self.inv_freq[None]
        return mx.concatenate([freqs, freqs], axis=-1)


def rotate_half(x: mx.array) -> mx.array:
    """[x1, x2] -> [-x2, x1] over the last axis (halves, not interleaved pairs)."""
    x1, x2 = mx.split(x, 2, axis=-1)
    return mx.concatenate([-x2, x1], axis=-1)


class LocalMHA(nn.Module):
    """Pre-LayerNorm multi-head attention inside non-overlapping windows of `window_size` frames, + residual."""

    def __init__(self, dim: int, window_size: int, dim_head: int = 64):
        super().__init__()
        self.heads, self.window_size = dim // dim_head, window_size
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.rel_pos = SinusoidalEmbeddings(dim_head)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, dim) -> (B, T, dim); T must be a multiple of the window."""
        B, T, C = x.shape
        w, n, h = T // self.window_size, self.window_size, self.heads
        q, k, v = mx.split(self.to_qkv(self.norm(x)), 3, axis=-1)
        # (B, T, C) -> (B, heads, windows, n, dim_head)
        q, k, v = (t.reshape(B, w, n, h, C // h).transpose(0, 3, 1, 2, 4) for t in (q, k, v))
        freqs = self.rel_pos(n)
        cos, sin = mx.cos(freqs), mx.sin(freqs)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        scores = (q @ k.swapaxes(-1, -2)) * (C // h) ** -0.5
        out = softmax(scores, axis=-1) @ v  # (B, h, w, n, dim_head)
        out = out.transpose(0, 2, 3, 1, 4).reshape(B, T, C)
        return self.to_out(out) + x
