"""S3Gen: speech tokens -> mel (the flow) -> 24 kHz audio (HiFT), module names as in `s3gen.safetensors`."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....layers.campplus import CAMPPlus
from .config import HiFTConfig
from .flow import Flow, FlowConfig
from .hift import HiFT

TRIM_SAMPLES = 24_000 // 50  # 20 ms silenced, then 20 ms faded in (the reference's spill-over guard)


def trim_fade(n: int = TRIM_SAMPLES) -> mx.array:
    """(2n,) gains: n zeros, then a raised-cosine fade-in over n samples."""
    import math

    ramp = (mx.cos(mx.linspace(math.pi, 0, n)) + 1) / 2
    return mx.concatenate([mx.zeros((n,)), ramp])


class S3Gen(nn.Module):
    """S3Token2Wav's parts: `speaker_encoder` (CAMPPlus), `flow` (tokens -> mel), `mel2wav` (HiFT, mel -> audio)."""

    def __init__(self, hift: HiFTConfig, flow: FlowConfig):
        super().__init__()
        self.speaker_encoder = CAMPPlus()
        self.flow = Flow(flow)
        self.mel2wav = HiFT(hift)

    def vocode(self, mel: mx.array, phases: mx.array | None = None, noise: mx.array | None = None) -> mx.array:
        """mel (B, T, 80) -> audio (B, 480 T), its first 40 ms faded in as the reference does."""
        audio = self.mel2wav(mel, phases, noise)[0]
        fade = trim_fade()
        n = min(fade.shape[0], audio.shape[1])
        return mx.concatenate([audio[:, :n] * fade[:n], audio[:, n:]], axis=1)
