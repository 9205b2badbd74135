"""S3Gen: speech tokens -> mel (the flow) -> 24 kHz audio (HiFT), module names as in `s3gen.safetensors`."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .config import HiFTConfig
from .hift import HiFT


class S3Gen(nn.Module):
    """S3Token2Wav's parts: `mel2wav` (HiFT)."""

    def __init__(self, hift: HiFTConfig):
        super().__init__()
        self.mel2wav = HiFT(hift)

    def vocode(self, mel: mx.array, phases: mx.array | None = None, noise: mx.array | None = None) -> mx.array:
        """mel (B, T, 80) -> audio (B, 480 T)."""
        return self.mel2wav(mel, phases, noise)[0]
