"""The length regulator (`InterpolateRegulator`, continuous content): project the semantic embedding to `channels`,
stretch it to the mel frame count by nearest-neighbour interpolation, then conv -> GroupNorm(1) -> Mish blocks."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .....layers import fast_math
from .....layers.conv import Conv1d
from .....layers.groupnorm import TimeGroupNorm
from .config import LengthRegulatorConfig


def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source frame of each output frame, as torch's `interpolate(mode="nearest")` picks it (float32 scale)."""
    if n_in == n_out:
        return np.arange(n_out)
    scale = np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64), n_in - 1)


class Mish(nn.Module):
    """x tanh(softplus(x)) (a parameter-free slot in the Sequential, as upstream's `nn.Mish`)."""

    def __call__(self, x: mx.array) -> mx.array:
        return fast_math.mish(x)


class LengthRegulator(nn.Module):
    """(B, N, in_channels) content + target frame count -> (B, frames, channels)."""

    def __init__(self, c: LengthRegulatorConfig):
        super().__init__()
        self.content_in_proj = nn.Linear(c.in_channels, c.channels)
        model: list[nn.Module] = []
        for _ in c.sampling_ratios:
            model += [Conv1d(c.channels, c.channels, 3, padding=1), TimeGroupNorm(c.channels), Mish()]
        self.model = model + [Conv1d(c.channels, c.channels, 1)]

    def __call__(self, x: mx.array, frames: int) -> mx.array:
        x = self.content_in_proj(x)  # (B, N, C)
        x = x[:, mx.array(nearest_indices(x.shape[1], frames))]  # (B, frames, C)
        for layer in self.model:
            x = layer(x)
        return x
