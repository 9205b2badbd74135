"""The perceiver resampler of IndexTTS's conditioning: learned latents cross-attend to [latents; context], GEGLU
feed-forward, RMS-scaled output (lucidrains-style, as upstream `indextts.gpt.perceiver`). Channels-last."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....taps import tap


class LatentAttention(nn.Module):
    """Latents (B, N, D) attend to themselves and the context (B, S, D); 64-dim heads, no biases."""

    def __init__(self, dims: int, heads: int, head_dim: int = 64):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.to_q = nn.Linear(dims, inner, bias=False)
        self.to_kv = nn.Linear(dims, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dims, bias=False)

    def _split(self, x: mx.array) -> mx.array:
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, latents: mx.array, context: mx.array) -> mx.array:
        k, v = mx.split(self.to_kv(mx.concatenate([latents, context], axis=1)), 2, axis=-1)
        q, k, v = self._split(self.to_q(latents)), self._split(k), self._split(v)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.head_dim**-0.5)
        return self.to_out(out.transpose(0, 2, 1, 3).reshape(latents.shape[0], latents.shape[1], -1))


class GEGLUFeedForward(nn.Module):
    """Linear to 2 x inner, x * gelu(gate), Linear back; inner = int(dims * mult * 2 / 3)."""

    def __init__(self, dims: int, mult: float):
        super().__init__()
        inner = int(dims * mult * 2 / 3)
        self.proj_in, self.proj_out = nn.Linear(dims, 2 * inner), nn.Linear(inner, dims)

    def __call__(self, x: mx.array) -> mx.array:
        x, gate = mx.split(self.proj_in(x), 2, axis=-1)
        return self.proj_out(nn.gelu(gate) * x)


class PerceiverResampler(nn.Module):
    """Context (B, S, dim_context) -> latents (B, num_latents, dims)."""

    def __init__(self, dims: int, dim_context: int, num_latents: int, heads: int, ff_mult: float, depth: int = 2,
                 name: str = "perceiver"):
        super().__init__()
        self.name = name
        self.proj_context = nn.Linear(dim_context, dims) if dim_context != dims else None
        self.latents = mx.zeros((num_latents, dims))
        self.attn = [LatentAttention(dims, heads) for _ in range(depth)]
        self.ff = [GEGLUFeedForward(dims, ff_mult) for _ in range(depth)]
        self.gamma = mx.ones((dims,))

    def __call__(self, context: mx.array) -> mx.array:
        x = self.proj_context(context) if self.proj_context is not None else context
        lat = mx.broadcast_to(self.latents[None], (x.shape[0], *self.latents.shape))
        for attn, ff in zip(self.attn, self.ff):
            lat = attn(lat, x) + lat
            lat = ff(lat) + lat
        norm = mx.maximum(mx.linalg.norm(lat, axis=-1, keepdims=True), 1e-12)
        return tap(self.name, lat / norm * (lat.shape[-1] ** 0.5) * self.gamma)
