"""Multi-head attention with a growable key/value cache (self and cross attention).

Parameter names follow the Hugging Face convention (`q_proj`, `k_proj`, `v_proj`, `out_proj`) so most
checkpoints load without renaming.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ..taps import enabled, tap
from .fast_math import scaled_dot_product_attention, softmax


class KVCache:
    """Keys and values of past positions, (B, heads, T, head_dim), grown in steps to avoid copies."""

    step = 64

    def __init__(self) -> None:
        self.keys: mx.array | None = None
        self.values: mx.array | None = None
        self.offset = 0

    def update(self, k: mx.array, v: mx.array) -> tuple[mx.array, mx.array]:
        """Append new positions; returns all keys and values so far."""
        n = k.shape[2]
        if self.keys is None or self.offset + n > self.keys.shape[2]:
            grow = ((n + self.step - 1) // self.step) * self.step
            shape = (*k.shape[:2], grow, k.shape[3])
            new_k, new_v = mx.zeros(shape, k.dtype), mx.zeros(shape, v.dtype)
            if self.keys is None:
                self.keys, self.values = new_k, new_v
            else:
                self.keys = mx.concatenate([self.keys[..., : self.offset, :], new_k], axis=2)
                self.values = mx.concatenate([self.values[..., : self.offset, :], new_v], axis=2)
        self.keys[..., self.offset : self.offset + n, :] = k
        self.values[..., self.offset : self.offset + n, :] = v
        self.offset += n
        return self.keys[..., : self.offset, :], self.values[..., : self.offset, :]

    def reorder(self, index: mx.array) -> None:
        """Keep batch rows `index` (beam search)."""
        if self.keys is not None:
            self.keys, self.values = self.keys[index], self.values[index]


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over `heads` heads; cross attention when `context` is given.

    With a `tap_name` (see `tap_attention_weights`), a capture records the weights (B, H, T, S) under it."""

    tap_name: str | None = None

    def __init__(self, dims: int, heads: int, bias: bool = True, key_bias: bool = False):
        super().__init__()
        self.heads = heads
        self.head_dim = dims // heads
        self.scale = self.head_dim**-0.5
        self.q_proj = nn.Linear(dims, dims, bias=bias)
        self.k_proj = nn.Linear(dims, dims, bias=key_bias)
        self.v_proj = nn.Linear(dims, dims, bias=bias)
        self.out_proj = nn.Linear(dims, dims, bias=bias)

    def _split(self, x: mx.array) -> mx.array:
        B, T, _ = x.shape  # (B, T, C) -> (B, H, T, D)
        return x.reshape(B, T, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(
        self,
        x: mx.array,
        context: mx.array | None = None,
        mask: mx.array | str | None = None,
        cache: KVCache | tuple[mx.array, mx.array] | None = None,
        return_weights: bool = False,
    ) -> tuple[mx.array, KVCache | tuple[mx.array, mx.array] | None, mx.array | None]:
        """x: (B, T, C). Returns (output, cache, attention weights (B, H, T, S) or None)."""
        q = self._split(self.q_proj(x) * self.scale)  # scale before the split, as the references do
        if context is None:  # self attention: cache grows
            k, v = self._split(self.k_proj(x)), self._split(self.v_proj(x))
            if isinstance(cache, KVCache):
                k, v = cache.update(k, v)
        elif isinstance(cache, tuple):  # cross attention: keys/values of the context computed once
            k, v = cache
        else:
            # stored contiguous once: MLX's CPU attention would copy the strided (B, H, S, D) views every step
            k, v = mx.contiguous(self._split(self.k_proj(context))), mx.contiguous(self._split(self.v_proj(context)))
            cache = (k, v)
        tapped = self.tap_name is not None and enabled()
        if return_weights or tapped:
            scores = q @ k.transpose(0, 1, 3, 2)
            if isinstance(mask, mx.array):
                scores = scores + mask
            weights = softmax(scores.astype(mx.float32), axis=-1).astype(q.dtype)
            out = weights @ v
            if tapped:
                tap(self.tap_name, weights)
            weights = weights if return_weights else None
        else:
            weights = None
            out = scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)
        B, _, T, _ = out.shape
        out = out.transpose(0, 2, 1, 3).reshape(B, T, -1)
        return self.out_proj(out), cache, weights


def tap_attention_weights(model: nn.Module, suffix: str = "weights") -> list[str]:
    """Name every `MultiHeadAttention` of `model` by its module path, so that inside `taps.capture()` each records
    its weights as `<path>.<suffix>` (computed explicitly then, not by the fused kernel); returns the names."""
    names = []
    for path, module in model.named_modules():
        if isinstance(module, MultiHeadAttention):
            module.tap_name = f"{path}.{suffix}"
            names.append(module.tap_name)
    return names
