"""SNAC's hyper-parameters, read from the upstream `config.json` (the `snac.SNAC` constructor's arguments)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked


@dataclass
class SnacConfig:
    """The arguments of `snac.SNAC` (defaults: its own, the 44 kHz model). The file has no `model_type`."""

    sampling_rate: int = 44_100
    encoder_dim: int = 64
    encoder_rates: list[int] = field(default_factory=lambda: [3, 3, 7, 7])
    latent_dim: int | None = None
    decoder_dim: int = 1536
    decoder_rates: list[int] = field(default_factory=lambda: [7, 7, 3, 3])
    attn_window_size: int | None = 32
    codebook_size: int = 4096
    codebook_dim: int = 8
    vq_strides: list[int] = field(default_factory=lambda: [8, 4, 2, 1])
    noise: bool = True
    depthwise: bool = True

    def __post_init__(self) -> None:
        checked(self)  # types first: the derived sizes below read them
        if self.latent_dim is None:
            self.latent_dim = self.encoder_dim * 2 ** len(self.encoder_rates)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SnacConfig:
        """From the upstream `config.json` (unknown keys, such as the MLX layout block, ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def hop_length(self) -> int:
        """Samples per latent frame (the finest code rate)."""
        return math.prod(self.encoder_rates)

    @property
    def pad_multiple(self) -> int:
        """Audio is right-padded to a multiple of this (so every scale and attention window divides evenly)."""
        return self.hop_length * math.lcm(self.vq_strides[0], self.attn_window_size or 1)

    @property
    def frame_rates(self) -> list[float]:
        """Code frames per second of each codebook (coarsest first)."""
        return [self.sampling_rate / self.hop_length / s for s in self.vq_strides]

    @property
    def bitrate_kbps(self) -> float:
        """Bits per second of all codebooks together, in kbps."""
        return sum(self.frame_rates) * math.log2(self.codebook_size) / 1000
