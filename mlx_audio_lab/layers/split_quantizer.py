"""Split residual vector quantization (Mimi, Moshi): a semantic RVQ and an acoustic RVQ side by side.

Each half projects the latents to its own codebook space (1x1 convs, here `Linear`s without bias), runs a
residual quantizer there, and projects back. Both halves see the same latents; decode sums their outputs.
Channels-last: latents (B, T, D), codes (n_q, B, T).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .quantizer import ResidualVectorQuantizer


class ProjectedResidualVectorQuantizer(ResidualVectorQuantizer):
    """An RVQ with optional input / output projections (`input_proj`, `output_proj`)."""

    def __init__(self, num_quantizers: int, codebook_size: int, codebook_dim: int, dims: int):
        super().__init__(num_quantizers, codebook_size, codebook_dim)
        if codebook_dim != dims:
            self.input_proj = nn.Linear(dims, codebook_dim, bias=False)
            self.output_proj = nn.Linear(codebook_dim, dims, bias=False)

    def encode(self, x: mx.array, n_q: int | None = None) -> mx.array:
        """(B, T, dims) -> (n_q, B, T)."""
        return super().encode(self.input_proj(x) if "input_proj" in self else x, n_q)

    def decode(self, codes: mx.array) -> mx.array:
        """(n_q, B, T) -> (B, T, dims)."""
        out = super().decode(codes)
        return self.output_proj(out) if "output_proj" in self else out


class SplitResidualVectorQuantizer(nn.Module):
    """The first `num_semantic` codebooks come from `semantic_residual_vector_quantizer`, the rest acoustic."""

    def __init__(self, num_quantizers: int, num_semantic: int, codebook_size: int, codebook_dim: int, dims: int):
        super().__init__()
        if not 0 < num_semantic < num_quantizers:
            raise ValueError(f"need 0 < num_semantic ({num_semantic}) < num_quantizers ({num_quantizers})")
        self.num_quantizers, self.num_semantic = num_quantizers, num_semantic
        self.semantic_residual_vector_quantizer = ProjectedResidualVectorQuantizer(
            num_semantic, codebook_size, codebook_dim, dims)
        self.acoustic_residual_vector_quantizer = ProjectedResidualVectorQuantizer(
            num_quantizers - num_semantic, codebook_size, codebook_dim, dims)

    def encode(self, x: mx.array, n_q: int | None = None) -> mx.array:
        """(B, T, dims) -> (n_q, B, T) codes, semantic first (n_q between num_semantic and num_quantizers)."""
        n_q = self.num_quantizers if n_q is None else n_q
        if not self.num_semantic <= n_q <= self.num_quantizers:
            raise ValueError(f"num_quantizers must be in [{self.num_semantic}, {self.num_quantizers}], got {n_q}")
        codes = self.semantic_residual_vector_quantizer.encode(x)
        if n_q > self.num_semantic:
            acoustic = self.acoustic_residual_vector_quantizer.encode(x, n_q - self.num_semantic)
            codes = mx.concatenate([codes, acoustic], axis=0)
        return codes

    def decode(self, codes: mx.array) -> mx.array:
        """(n_q, B, T) codes -> (B, T, dims) quantized latents."""
        out = self.semantic_residual_vector_quantizer.decode(codes[: self.num_semantic])
        if codes.shape[0] > self.num_semantic:
            out = out + self.acoustic_residual_vector_quantizer.decode(codes[self.num_semantic :])
        return out
