"""GPT-2 blocks as transformers' `GPT2Model` computes them (pre-LN, fused qkv, tanh GELU), fed embeddings with the
positions already added (IndexTTS replaces `wpe` by its own learned tables). Channels-last, KV-cached."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....layers.attention import KVCache
from ....taps import tap


class GPT2Attention(nn.Module):
    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dims // heads
        self.c_attn, self.c_proj = nn.Linear(dims, 3 * dims), nn.Linear(dims, dims)

    def __call__(self, x: mx.array, cache: KVCache) -> mx.array:
        B, T, C = x.shape
        q, k, v = (t.reshape(B, T, self.heads, self.head_dim).transpose(0, 2, 1, 3)
                   for t in mx.split(self.c_attn(x), 3, axis=-1))
        k, v = cache.update(k, v)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.head_dim**-0.5,
                                                   mask="causal" if T > 1 else None)
        return self.c_proj(out.transpose(0, 2, 1, 3).reshape(B, T, C))


class GPT2MLP(nn.Module):
    def __init__(self, dims: int):
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(dims, 4 * dims), nn.Linear(4 * dims, dims)

    def __call__(self, x: mx.array) -> mx.array:
        return self.c_proj(nn.gelu_approx(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(dims, eps=1e-5), nn.LayerNorm(dims, eps=1e-5)
        self.attn, self.mlp = GPT2Attention(dims, heads), GPT2MLP(dims)

    def __call__(self, x: mx.array, cache: KVCache) -> mx.array:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """Embeddings (B, T, D) -> hidden (B, T, D); `h.N` and `ln_f` tapped as `gpt.h.N`, `gpt.ln_f`."""

    def __init__(self, dims: int, layers: int, heads: int):
        super().__init__()
        self.h = [GPT2Block(dims, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(dims, eps=1e-5)

    def make_cache(self) -> list[KVCache]:
        return [KVCache() for _ in self.h]

    def __call__(self, x: mx.array, cache: list[KVCache]) -> mx.array:
        for i, (block, c) in enumerate(zip(self.h, cache)):
            x = tap(f"gpt.h.{i}", block(x, c))
        return tap("gpt.ln_f", self.ln_f(x))
