"""Positional encodings."""

from __future__ import annotations

import math

import mlx.core as mx


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> mx.array:
    """Whisper-style sinusoids: (length, channels), sin half then cos half."""
    half = channels // 2
    inv = mx.exp(-math.log(max_timescale) / (half - 1) * mx.arange(half, dtype=mx.float32))
    t = mx.arange(length, dtype=mx.float32)[:, None] * inv[None, :]
    return mx.concatenate([mx.sin(t), mx.cos(t)], axis=1)
