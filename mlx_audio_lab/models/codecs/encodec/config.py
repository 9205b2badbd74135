"""EnCodec's hyper-parameters, read from a Hugging Face `config.json` (transformers' EncodecConfig)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..seanet_config import SEANetConfig


@dataclass
class EncodecConfig(SEANetConfig):
    """The fields of transformers' EncodecConfig that the MLX port uses (defaults: encodec_24khz); the SEANet
    ones come from `SEANetConfig`, whose defaults are EnCodec's."""

    target_bandwidths: list[float] = field(default_factory=lambda: [1.5, 3.0, 6.0, 12.0, 24.0])
    normalize: bool = False
    chunk_length_s: float | None = None
    overlap: float | None = None
    norm_type: str = "weight_norm"
    num_lstm_layers: int = 2
    codebook_size: int = 1024
    codebook_dim: int | None = None
    model_type: str = "encodec"

    def __post_init__(self) -> None:
        if self.codebook_dim is None:
            self.codebook_dim = self.hidden_size

    @property
    def hop_length(self) -> int:
        """Samples per code frame (the product of the strides)."""
        return math.prod(self.upsampling_ratios)

    @property
    def frame_rate(self) -> int:
        """Code frames per second."""
        return math.ceil(self.sampling_rate / self.hop_length)

    @property
    def num_quantizers(self) -> int:
        """Codebooks needed by the largest target bandwidth."""
        nbits = math.ceil(math.log2(self.codebook_size))
        return int(1000 * self.target_bandwidths[-1] // (self.frame_rate * nbits))

    @property
    def chunk_length(self) -> int | None:
        """Samples per chunk (the 48 kHz model encodes 1 s chunks); None: the whole clip at once."""
        return None if self.chunk_length_s is None else int(self.chunk_length_s * self.sampling_rate)

    @property
    def chunk_stride(self) -> int | None:
        """Samples between chunk starts, (1 - overlap) x chunk as transformers computes it; None: no chunks."""
        if self.chunk_length is None or self.overlap is None:
            return None
        return max(1, int((1.0 - self.overlap) * self.chunk_length))
