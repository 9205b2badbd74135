"""Residual vector quantization (SoundStream / EnCodec style): nearest-codeword search, residual stacking.

Channels-last: latents are (B, T, D), codes are (n_q, B, T) integers.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn


class EuclideanCodebook(nn.Module):
    """A table of `codebook_size` vectors; encode = nearest by Euclidean distance, decode = lookup."""

    def __init__(self, codebook_size: int, dim: int):
        super().__init__()
        self.embed = mx.zeros((codebook_size, dim))

    def encode(self, x: mx.array) -> mx.array:
        """(..., D) -> (...) indices of the nearest codewords (first index on ties, as torch's max)."""
        e = self.embed
        # |x|^2 - 2 x.e + |e|^2, in the order transformers sums it, so near-ties break the same way
        dist = (x * x).sum(-1, keepdims=True) - 2 * (x @ e.T) + (e * e).sum(-1)
        return mx.argmin(dist, axis=-1)

    def decode(self, codes: mx.array) -> mx.array:
        """(...) indices -> (..., D) codewords."""
        return self.embed[codes]


class VectorQuantizer(nn.Module):
    """One quantizer stage: a codebook (named `codebook` as in transformers' EnCodec / Mimi)."""

    def __init__(self, codebook_size: int, dim: int):
        super().__init__()
        self.codebook = EuclideanCodebook(codebook_size, dim)

    def encode(self, x: mx.array) -> mx.array:
        """(B, T, D) -> (B, T) codes."""
        return self.codebook.encode(x)

    def decode(self, codes: mx.array) -> mx.array:
        """(B, T) codes -> (B, T, D)."""
        return self.codebook.decode(codes)


def quantizers_for_bandwidth(bandwidth: float | None, codebook_size: int, frame_rate: float,
                             num_quantizers: int) -> int:
    """How many stages fit `bandwidth` kbps (all of them when None or <= 0), at least one."""
    if bandwidth is None or bandwidth <= 0:
        return num_quantizers
    per_stage = math.log2(codebook_size) * frame_rate  # bits per second of one stage
    return int(max(1, math.floor(bandwidth * 1000 / per_stage)))


class ResidualVectorQuantizer(nn.Module):
    """`layers[k]` quantizes what the stages before it left over; decode sums the chosen codewords."""

    def __init__(self, num_quantizers: int, codebook_size: int, dim: int):
        super().__init__()
        self.codebook_size = codebook_size
        self.layers = [VectorQuantizer(codebook_size, dim) for _ in range(num_quantizers)]

    def encode(self, x: mx.array, n_q: int | None = None) -> mx.array:
        """(B, T, D) latents -> (n_q, B, T) codes from the first `n_q` stages (all by default)."""
        residual, codes = x, []
        for layer in self.layers[: n_q or len(self.layers)]:
            idx = layer.encode(residual)
            residual = residual - layer.decode(idx)
            codes.append(idx)
        return mx.stack(codes)

    def decode(self, codes: mx.array) -> mx.array:
        """(n_q, B, T) codes -> (B, T, D), the sum of each stage's codewords."""
        out = self.layers[0].decode(codes[0])
        for k in range(1, codes.shape[0]):
            out = out + self.layers[k].decode(codes[k])
        return out
