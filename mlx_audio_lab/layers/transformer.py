"""A pre-norm transformer with rotary attention, a causal sliding-window mask and layer scale (Mimi, Moshi).

Names follow transformers' Llama-style layers (`self_attn.{q,k,v,o}_proj`, `mlp.fc1/fc2`, `input_layernorm`,
`post_attention_layernorm`, `*_layer_scale.scale`) so checkpoints load by name. Inputs are (B, T, C).
Streaming: one `SlidingKVCache` per layer; a chunk at absolute position `offset` sees the same keys as the
full sequence would, so chunked and full runs agree.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ..taps import tap
from .attention import KVCache
from .fast_math import gelu, scaled_dot_product_attention


class SlidingKVCache(KVCache):
    """A KVCache that forgets positions older than the attention window (None: keeps everything)."""

    def __init__(self, window: int | None = None) -> None:
        super().__init__()
        self.window = window

    def trim(self) -> None:
        """Keep the last `window - 1` positions: all the next query can still see."""
        keep = None if self.window is None else self.window - 1
        if keep is not None and self.offset > keep:
            drop = self.offset - keep
            self.keys = self.keys[..., drop : self.offset, :]
            self.values = self.values[..., drop : self.offset, :]
            self.offset = keep


def sliding_causal_mask(q_len: int, kv_len: int, offset: int, window: int | None) -> mx.array:
    """Boolean (q_len, kv_len): query at `offset + i` sees keys ending at the last query, within `window`."""
    q_pos = offset + mx.arange(q_len)[:, None]
    k_pos = offset + q_len - kv_len + mx.arange(kv_len)[None, :]
    mask = k_pos <= q_pos
    if window is not None:
        mask = mask & (k_pos > q_pos - window)
    return mask


class RoPEAttention(nn.Module):
    """Causal multi-head (or grouped-query) self attention with rotary positions (rotate-half convention)."""

    def __init__(self, dims: int, heads: int, kv_heads: int | None = None, head_dim: int | None = None,
                 bias: bool = False, rope_theta: float = 10_000.0, window: int | None = None, *,
                 kv_dims: int | None = None, scale: float | None = None, causal: bool = True, rotary: bool = True):
        """`kv_dims`: width of the keys' source (cross attention); `scale` defaults to head_dim ** -0.5 (Dia: 1);
        `causal` False attends everywhere (an encoder); `rotary` False leaves positions out (cross attention)."""
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads or heads
        self.head_dim = head_dim or dims // heads
        self.rope_theta, self.window = rope_theta, window
        self.scale = self.head_dim**-0.5 if scale is None else scale
        self.causal, self.rotary = causal, rotary
        self.q_proj = nn.Linear(dims, self.heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(kv_dims or dims, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(kv_dims or dims, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.heads * self.head_dim, dims, bias=bias)

    def _heads(self, x: mx.array, n: int) -> mx.array:
        B, T, _ = x.shape  # (B, T, n * D) -> (B, n, T, D)
        return x.reshape(B, T, n, self.head_dim).transpose(0, 2, 1, 3)

    def context_keys_values(self, context: mx.array) -> tuple[mx.array, mx.array]:
        """Cross attention's keys and values of a context (B, S, kv_dims), each (B, kv_heads, S, D), computed once."""
        return (mx.contiguous(self._heads(self.k_proj(context), self.kv_heads)),
                mx.contiguous(self._heads(self.v_proj(context), self.kv_heads)))

    def __call__(self, x: mx.array, offset: int = 0, cache: SlidingKVCache | None = None,
                 keys_values: tuple[mx.array, mx.array] | None = None) -> mx.array:
        """x (B, T, C) at absolute positions offset..offset+T-1 -> (B, T, C); with `keys_values` (from
        `context_keys_values`) it attends to that context instead of to itself."""
        B, T, _ = x.shape
        rope = dict(dims=self.head_dim, traditional=False, base=self.rope_theta, scale=1.0, offset=offset)
        q = self._heads(self.q_proj(x), self.heads)
        q = mx.fast.rope(q, **rope) if self.rotary else q
        if keys_values is not None:
            k, v = keys_values
        else:
            k = self._heads(self.k_proj(x), self.kv_heads)
            k = mx.fast.rope(k, **rope) if self.rotary else k
            v = self._heads(self.v_proj(x), self.kv_heads)
            if cache is not None:
                k, v = cache.update(k, v)
        causal = self.causal and keys_values is None
        mask = sliding_causal_mask(T, k.shape[2], offset, self.window) if causal else None
        out = scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        if cache is not None and keys_values is None:
            cache.trim()
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, T, -1))


class LayerScale(nn.Module):
    """A learnt per-channel scale on a residual branch (Touvron et al., 2021)."""

    def __init__(self, dims: int, init: float = 0.01):
        super().__init__()
        self.scale = mx.full((dims,), init)

    def __call__(self, x: mx.array) -> mx.array:
        return x * self.scale


class MLP(nn.Module):
    """fc1 -> activation -> fc2, without biases."""

    def __init__(self, dims: int, hidden: int, activation: str = "gelu", bias: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(dims, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dims, bias=bias)
        self.act = {"gelu": gelu, "gelu_new": nn.gelu_approx, "relu": nn.relu, "silu": nn.silu}[activation]

    def __call__(self, x: mx.array) -> mx.array:
        return self.fc2(self.act(self.fc1(x)))


class TransformerLayer(nn.Module):
    """x + scale * attn(norm(x)), then x + scale * mlp(norm(x))."""

    def __init__(self, dims: int, heads: int, hidden: int, kv_heads: int | None = None,
                 head_dim: int | None = None, rope_theta: float = 10_000.0, window: int | None = None,
                 norm_eps: float = 1e-5, layer_scale: float | None = 0.01, activation: str = "gelu",
                 bias: bool = False):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(dims, eps=norm_eps)
        self.self_attn = RoPEAttention(dims, heads, kv_heads, head_dim, bias, rope_theta, window)
        self.post_attention_layernorm = nn.LayerNorm(dims, eps=norm_eps)
        self.mlp = MLP(dims, hidden, activation)
        if layer_scale is not None:
            self.self_attn_layer_scale = LayerScale(dims, layer_scale)
            self.mlp_layer_scale = LayerScale(dims, layer_scale)

    def __call__(self, x: mx.array, offset: int = 0, cache: SlidingKVCache | None = None) -> mx.array:
        h = self.self_attn(self.input_layernorm(x), offset, cache)
        x = x + (self.self_attn_layer_scale(h) if "self_attn_layer_scale" in self else h)
        h = self.mlp(self.post_attention_layernorm(x))
        return x + (self.mlp_layer_scale(h) if "mlp_layer_scale" in self else h)


class Transformer(nn.Module):
    """A stack of `TransformerLayer`s; `name` prefixes the taps (`{name}.layers.{i}`)."""

    def __init__(self, num_layers: int, name: str = "transformer", **layer_kw):
        super().__init__()
        self.name = name
        self.layers = [TransformerLayer(**layer_kw) for _ in range(num_layers)]

    def make_cache(self) -> list[SlidingKVCache]:
        """One empty cache per layer, for streaming."""
        return [SlidingKVCache(layer.self_attn.window) for layer in self.layers]

    def __call__(self, x: mx.array, offset: int = 0, cache: list[SlidingKVCache] | None = None) -> mx.array:
        """(B, T, C) at absolute positions offset.. -> (B, T, C)."""
        for i, layer in enumerate(self.layers):
            x = tap(f"{self.name}.layers.{i}", layer(x, offset, None if cache is None else cache[i]))
        return x
