"""DAC's hyper-parameters, read from a Hugging Face `config.json` (transformers' DacConfig)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked


@dataclass
class DacConfig:
    """The fields of transformers' DacConfig that the MLX port uses (defaults: descript/dac_16khz)."""

    encoder_hidden_size: int = 64
    downsampling_ratios: list[int] = field(default_factory=lambda: [2, 4, 5, 8])
    decoder_hidden_size: int = 1536
    n_codebooks: int = 12
    codebook_size: int = 1024
    codebook_dim: int = 8
    sampling_rate: int = 16_000
    model_type: str = "dac"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DacConfig:
        """From a HF `config.json` (unknown and derived keys ignored)."""
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))

    @property
    def upsampling_ratios(self) -> list[int]:
        """The decoder's strides: the encoder's, reversed."""
        return list(reversed(self.downsampling_ratios))

    @property
    def hidden_size(self) -> int:
        """Latent width: the encoder doubles its channels at every stride."""
        return self.encoder_hidden_size * 2 ** len(self.downsampling_ratios)

    @property
    def hop_length(self) -> int:
        """Samples per code frame."""
        return math.prod(self.downsampling_ratios)

    @property
    def frame_rate(self) -> int:
        """Code frames per second."""
        return math.ceil(self.sampling_rate / self.hop_length)

    @property
    def bitrate_kbps(self) -> float:
        """Bits per second of all codebooks, in kbps (n_codebooks * log2(codebook_size) * frame rate)."""
        return self.n_codebooks * math.log2(self.codebook_size) * self.sampling_rate / self.hop_length / 1000
