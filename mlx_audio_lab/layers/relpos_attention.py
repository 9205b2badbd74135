"""Relative-position multi-head self attention (Transformer-XL, Dai et al. 2019, section 3.3), channels-last.

Used by Conformer / FastConformer encoders. Parameter names follow transformers' `ParakeetEncoderAttention`
(`q_proj`, `k_proj`, `v_proj`, `o_proj`, `relative_k_proj`, `bias_u`, `bias_v`).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .fast_math import softmax

NEG_INF = -3.4028234663852886e38  # torch.finfo(float32).min, the fill of masked scores in float32


def rel_positional_encoding(length: int, dims: int, base: float = 10000.0) -> mx.array:
    """Sinusoids of relative positions length-1 ... -(length-1): (2 * length - 1, dims), sin/cos interleaved."""
    inv_freq = 1.0 / (base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims))
    pos = mx.arange(length - 1, -length, -1, dtype=mx.float32)
    freqs = pos[:, None] * inv_freq[None, :]  # (P, dims / 2)
    return mx.stack([mx.sin(freqs), mx.cos(freqs)], axis=-1).reshape(2 * length - 1, dims)


def rel_shift(scores: mx.array) -> mx.array:
    """(B, H, T, P) scores over relative positions -> scores where column j is key j (the pad-and-reshape trick)."""
    B, H, T, P = scores.shape
    x = mx.pad(scores, [(0, 0), (0, 0), (0, 0), (1, 0)])  # (B, H, T, P + 1)
    x = x.reshape(B, H, P + 1, T)[:, :, 1:]
    return x.reshape(B, H, T, P)


class RelPositionMultiHeadAttention(nn.Module):
    """Self attention with content (`bias_u`) and position (`bias_v`) biases over relative sinusoids."""

    def __init__(self, dims: int, heads: int, bias: bool = True):
        super().__init__()
        self.heads, self.head_dim = heads, dims // heads
        self.scale = self.head_dim**-0.5
        self.q_proj = nn.Linear(dims, dims, bias=bias)
        self.k_proj = nn.Linear(dims, dims, bias=bias)
        self.v_proj = nn.Linear(dims, dims, bias=bias)
        self.o_proj = nn.Linear(dims, dims, bias=bias)
        self.relative_k_proj = nn.Linear(dims, dims, bias=False)
        self.bias_u = mx.zeros((heads, self.head_dim))
        self.bias_v = mx.zeros((heads, self.head_dim))

    def _split(self, x: mx.array) -> mx.array:
        B, T, _ = x.shape  # (B, T, C) -> (B, H, T, D)
        return x.reshape(B, T, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, x: mx.array, pos_emb: mx.array, mask: mx.array | None = None) -> mx.array:
        """x (B, T, C), pos_emb (2T - 1, C), mask (B, 1, T, T) bool (True = attend) -> (B, T, C)."""
        T = x.shape[1]
        q, k, v = self._split(self.q_proj(x)), self._split(self.k_proj(x)), self._split(self.v_proj(x))
        p = self.relative_k_proj(pos_emb).reshape(-1, self.heads, self.head_dim).transpose(1, 2, 0)  # (H, D, P)
        q_u = q + self.bias_u[None, :, None, :]
        q_v = q + self.bias_v[None, :, None, :]
        bd = rel_shift(q_v @ p[None])[..., :T] * self.scale  # (B, H, T, T): terms (b) and (d)
        if mask is not None:  # the dtype's own finite minimum, as transformers: float32's min is -inf in bfloat16,
            bd = mx.where(mask, bd, mx.array(mx.finfo(bd.dtype).min, bd.dtype))  # a padded row's softmax then NaN
        scores = (q_u @ k.transpose(0, 1, 3, 2)) * self.scale + bd  # terms (a) and (c) added
        weights = softmax(scores.astype(mx.float32), axis=-1).astype(q.dtype)
        out = (weights @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], T, -1)
        return self.o_proj(out)
