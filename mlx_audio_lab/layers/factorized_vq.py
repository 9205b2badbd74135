"""Factorized, L2-normalized vector quantization (Yu et al., ViT-VQGAN; used by DAC and SNAC).

Each stage projects the latent to a small `codebook_dim` (a 1x1 conv), picks the codeword with the highest
cosine similarity, and projects back. SNAC's stages also work at a coarser rate (`stride`): average-pool
before, repeat after. Channels-last: latents (B, T, D); codes of stage k are (B, T // stride_k).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .conv import Conv1d


def l2_normalize(x: mx.array, eps: float = 1e-12) -> mx.array:
    """x / max(|x|, eps) over the last axis (torch's F.normalize)."""
    return x / mx.maximum(mx.sqrt((x * x).sum(-1, keepdims=True)), eps)


class FactorizedVectorQuantizer(nn.Module):
    """in_proj (D -> d), nearest L2-normalized codeword, codebook lookup, out_proj (d -> D).

    `codebook_norm_sign` reproduces the reference's score term by term, so near-ties break the same way:
    -1 is the original `-(|e|^2 - 2 e.c + |c|^2)` (DAC package, SNAC); +1 is transformers' DacModel,
    which writes `-(|e|^2 - 2 e.c) + |c|^2` (equal up to rounding, as |c| = 1).
    """

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int, stride: int = 1,
                 codebook_norm_sign: int = -1):
        super().__init__()
        self.stride, self.codebook_norm_sign = stride, codebook_norm_sign
        self.in_proj = Conv1d(input_dim, codebook_dim, 1)
        self.out_proj = Conv1d(codebook_dim, input_dim, 1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def _pool(self, z: mx.array) -> mx.array:
        if self.stride == 1:
            return z
        B, T, D = z.shape
        n = T // self.stride
        return z[:, : n * self.stride].reshape(B, n, self.stride, D).mean(axis=2)

    def _unpool(self, z: mx.array) -> mx.array:
        return z if self.stride == 1 else mx.repeat(z, self.stride, axis=1)

    def encode(self, z: mx.array) -> mx.array:
        """(B, T, D) latents -> (B, T // stride) codes."""
        e = l2_normalize(self.in_proj(self._pool(z)))  # (B, T', d)
        c = l2_normalize(self.codebook.weight)  # (N, d)
        e2 = (e * e).sum(-1, keepdims=True)
        c2 = (c * c).sum(-1)
        if self.codebook_norm_sign > 0:
            score = -(e2 - 2 * (e @ c.T)) + c2
        else:
            score = -(e2 - 2 * (e @ c.T) + c2)
        return mx.argmax(score, axis=-1)

    def decode(self, codes: mx.array) -> mx.array:
        """(B, T') codes -> (B, T' * stride, D): codewords projected back and repeated to the latent rate."""
        return self._unpool(self.out_proj(self.codebook(codes)))


class ResidualFactorizedVQ(nn.Module):
    """`quantizers[k]` quantizes what the stages before it left over; decode sums the stages' outputs."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int, strides: list[int],
                 codebook_norm_sign: int = -1):
        super().__init__()
        self.quantizers = [FactorizedVectorQuantizer(input_dim, codebook_size, codebook_dim, s, codebook_norm_sign)
                           for s in strides]

    def encode(self, z: mx.array, n_q: int | None = None) -> list[mx.array]:
        """(B, T, D) -> one (B, T // stride_k) code array per stage, first `n_q` stages (all by default)."""
        residual, codes = z, []
        for q in self.quantizers[: n_q or len(self.quantizers)]:
            idx = q.encode(residual)
            residual = residual - q.decode(idx)
            codes.append(idx)
        return codes

    def decode(self, codes: list[mx.array]) -> mx.array:
        """Per-stage codes (B, T_k) -> (B, T, D), the sum of each stage's projected codewords."""
        out = self.quantizers[0].decode(codes[0])
        for q, c in zip(self.quantizers[1:], codes[1:]):
            out = out + q.decode(c)
        return out
