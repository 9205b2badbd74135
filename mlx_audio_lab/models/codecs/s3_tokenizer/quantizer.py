"""S3TokenizerV2's finite scalar quantizer (FSQ): 8 projected values, each rounded to one of 3 levels -> a token.

token = sum_i d_i 3^i with d_i = round(0.999 tanh(W h + b)_i) + 1 in {0, 1, 2}: 3^8 = 6561 speech tokens, no
codebook to look up. A value within eps of +-0.5 after the squash is a tie: float rounding may send it either way.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....taps import tap

SQUASH = 0.9990000128746033  # the reference's factor after tanh, as stored in float32


class FSQuantizer(nn.Module):
    """`project_down` (dims -> 8), then squash and round each value to {-1, 0, 1}; base-3 digits -> token id."""

    def __init__(self, dims: int, levels: int = 3, codes: int = 8):
        super().__init__()
        self.project_down = nn.Linear(dims, codes)
        self.levels = levels

    def values(self, h: mx.array) -> mx.array:
        """(B, T, dims) -> the squashed projections (B, T, 8) in (-1, 1), before rounding."""
        z = tap("quantizer.project_down", self.project_down(h))
        return tap("quantizer.values", mx.tanh(z.astype(mx.float32)) * SQUASH)

    def digits(self, values: mx.array) -> mx.array:
        """Squashed values (B, T, 8) -> base-3 digits {0, 1, 2} (round half to even, as torch.round)."""
        return (mx.round(values) + 1).astype(mx.int32)

    def tokens(self, digits: mx.array) -> mx.array:
        """Digits (B, T, 8) -> token ids (B, T): digit i weighs levels^i."""
        powers = mx.power(mx.array(self.levels, mx.int32), mx.arange(digits.shape[-1], dtype=mx.int32))
        return (digits * powers).sum(axis=-1)

    def __call__(self, h: mx.array) -> mx.array:
        """(B, T, dims) -> tokens (B, T), int32."""
        return self.tokens(self.digits(self.values(h)))


def boundary_distance(values: mx.array) -> mx.array:
    """Per frame, how close the nearest of its 8 values lies to a rounding boundary (+-0.5): (B, T)."""
    return mx.abs(mx.abs(values) - 0.5).min(axis=-1)
