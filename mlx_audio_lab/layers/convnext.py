"""ConvNeXt 1-D blocks (as Vocos uses them) and the adaptive LayerNorm conditioned on a class id.

Channels-last: x is (B, T, C). Names follow the Vocos checkpoints (`dwconv`, `norm`, `pwconv1/2`, `gamma`,
`norm.scale` / `norm.shift` embeddings), so weights load by name.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .conv import Conv1d
from .fast_math import gelu


class AdaLayerNorm(nn.Module):
    """LayerNorm without its own affine; scale and shift are embeddings looked up by a condition id."""

    def __init__(self, num_embeddings: int, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Embedding(num_embeddings, dim)
        self.shift = nn.Embedding(num_embeddings, dim)
        self.scale.weight = mx.ones((num_embeddings, dim))
        self.shift.weight = mx.zeros((num_embeddings, dim))

    def __call__(self, x: mx.array, cond: mx.array) -> mx.array:
        """x (B, T, C), cond (B,) or () int ids -> (B, T, C)."""
        cond = mx.array(cond).reshape(-1, 1)  # (B or 1, 1): broadcast over time
        x = mx.fast.layer_norm(x, None, None, self.eps)
        return x * self.scale(cond) + self.shift(cond)


def make_norm(dim: int, num_embeddings: int | None, eps: float = 1e-6) -> nn.Module:
    """An `AdaLayerNorm` when conditioned (`num_embeddings` set), else a plain affine `nn.LayerNorm`."""
    return AdaLayerNorm(num_embeddings, dim, eps) if num_embeddings else nn.LayerNorm(dim, eps=eps)


def apply_norm(norm: nn.Module, x: mx.array, cond: mx.array | None) -> mx.array:
    """Call either kind of norm; an `AdaLayerNorm` needs `cond`."""
    if isinstance(norm, AdaLayerNorm):
        if cond is None:
            raise ValueError("this model is conditioned (AdaLayerNorm): pass a condition id (bandwidth_id)")
        return norm(x, cond)
    return norm(x)


class ConvNeXtBlock(nn.Module):
    """x + gamma * pwconv2(GELU(pwconv1(norm(dwconv(x))))): depthwise k=7 conv, then an inverted MLP."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float | None,
                 adanorm_num_embeddings: int | None = None, kernel_size: int = 7):
        super().__init__()
        self.dwconv = Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = make_norm(dim, adanorm_num_embeddings)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        if layer_scale is not None and layer_scale > 0:
            self.gamma = layer_scale * mx.ones((dim,))

    def __call__(self, x: mx.array, cond: mx.array | None = None) -> mx.array:
        """(B, T, C) -> (B, T, C)."""
        y = apply_norm(self.norm, self.dwconv(x), cond)
        y = self.pwconv2(gelu(self.pwconv1(y)))
        if "gamma" in self:
            y = self.gamma * y
        return x + y


class VectorAdaLayerNorm(AdaLayerNorm):
    """LayerNorm without affine; scale and shift are linear maps of a condition vector (BiCodec's decoder)."""

    def __init__(self, condition_dim: int, dim: int, eps: float = 1e-6):
        nn.Module.__init__(self)
        self.eps = eps
        self.scale = nn.Linear(condition_dim, dim)
        self.shift = nn.Linear(condition_dim, dim)

    def __call__(self, x: mx.array, cond: mx.array) -> mx.array:
        """x (B, T, C), cond (B, condition_dim) -> (B, T, C)."""
        x = mx.fast.layer_norm(x, None, None, self.eps)
        return x * self.scale(cond)[:, None] + self.shift(cond)[:, None]
