"""The DiT's transformer (gpt-fast's, as Seed-VC / IndexTTS 2 use it): pre-norm blocks whose RMSNorms are
modulated by the time embedding (adaptive: w(t) * norm(x) + b(t)), fused-QKV attention with interleaved rotary
positions, a SwiGLU feed-forward, and U-ViT skips (the first half's outputs feed the second half)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .....layers.fast_math import scaled_dot_product_attention
from .....taps import tap


def find_multiple(n: int, k: int) -> int:
    return n if n % k == 0 else n + k - n % k


class AdaptiveRMSNorm(nn.Module):
    """RMSNorm scaled and shifted by a projection of the condition c (B, 1, D)."""

    def __init__(self, dims: int, eps: float = 1e-5):
        super().__init__()
        self.project_layer = nn.Linear(dims, 2 * dims)
        self.norm = nn.RMSNorm(dims, eps=eps)

    def __call__(self, x: mx.array, c: mx.array) -> mx.array:
        weight, bias = mx.split(self.project_layer(c), 2, axis=-1)
        return weight * self.norm(x) + bias


class Attention(nn.Module):
    """Self attention with one fused `wqkv` projection and rotary positions on adjacent pairs (interleaved)."""

    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dims // heads
        self.wqkv = nn.Linear(dims, 3 * dims, bias=False)
        self.wo = nn.Linear(dims, dims, bias=False)

    def __call__(self, x: mx.array, mask: mx.array | None) -> mx.array:
        B, T, D = x.shape
        q, k, v = (a.reshape(B, T, self.heads, self.head_dim).transpose(0, 2, 1, 3)
                   for a in mx.split(self.wqkv(x), 3, axis=-1))  # each (B, H, T, d)
        q = mx.fast.rope(q, self.head_dim, traditional=True, base=10000.0, scale=1.0, offset=0)
        k = mx.fast.rope(k, self.head_dim, traditional=True, base=10000.0, scale=1.0, offset=0)
        out = scaled_dot_product_attention(q, k, v, scale=self.head_dim**-0.5, mask=mask)
        return self.wo(out.transpose(0, 2, 1, 3).reshape(B, T, D))


class FeedForward(nn.Module):
    """w2(silu(w1 x) * w3 x)."""

    def __init__(self, dims: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dims, hidden, bias=False)
        self.w3 = nn.Linear(dims, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dims, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, dims: int, heads: int, hidden: int, skip: bool):
        super().__init__()
        self.attention = Attention(dims, heads)
        self.feed_forward = FeedForward(dims, hidden)
        self.ffn_norm = AdaptiveRMSNorm(dims)
        self.attention_norm = AdaptiveRMSNorm(dims)
        if skip:
            self.skip_in_linear = nn.Linear(2 * dims, dims)

    def __call__(self, x: mx.array, c: mx.array, mask: mx.array | None, skip: mx.array | None = None) -> mx.array:
        if skip is not None:
            x = self.skip_in_linear(mx.concatenate([x, skip], axis=-1))
        h = x + self.attention(self.attention_norm(x, c), mask)
        return h + self.feed_forward(self.ffn_norm(h, c))


class Transformer(nn.Module):
    """`depth` blocks; layers i < depth // 2 emit a skip, layers i > depth // 2 take the latest one (U-ViT)."""

    def __init__(self, dims: int, heads: int, depth: int, uvit_skip: bool):
        super().__init__()
        hidden = find_multiple(int(2 * 4 * dims / 3), 256)
        self.layers = [TransformerBlock(dims, heads, hidden, uvit_skip) for _ in range(depth)]
        self.norm = AdaptiveRMSNorm(dims)
        self.uvit_skip = uvit_skip

    def __call__(self, x: mx.array, c: mx.array, mask: mx.array | None = None) -> mx.array:
        """x (B, T, D), c (B, 1, D), mask (B, 1, 1, T) True where a key counts -> (B, T, D)."""
        n, skips = len(self.layers), []
        for i, layer in enumerate(self.layers):
            skip = skips.pop() if self.uvit_skip and i > n // 2 else None
            x = tap(f"s2mel.dit.transformer.layers.{i}", layer(x, c, mask, skip))
            if self.uvit_skip and i < n // 2:
                skips.append(x)
        return tap("s2mel.dit.transformer.norm", self.norm(x, c))
