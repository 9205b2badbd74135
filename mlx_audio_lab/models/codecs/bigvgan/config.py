"""BigVGAN's hyper-parameters, read from the upstream `config.json` (the training config the hub repos ship)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked


@dataclass
class BigVGANConfig:
    """The generator's fields of the config (defaults: nvidia/bigvgan_v2_24khz_100band_256x); the file has no
    `model_type`, and its training fields (discriminators, losses, optimizer) are ignored."""

    num_mels: int = 100
    upsample_rates: list[int] = field(default_factory=lambda: [4, 4, 2, 2, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [8, 8, 4, 4, 4, 4])
    upsample_initial_channel: int = 1536
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = True  # upstream's default when the key is absent (v1 configs)
    use_bias_at_final: bool = True
    sampling_rate: int = 24_000
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    fmin: int = 0
    fmax: int | None = None

    def __post_init__(self) -> None:
        if self.activation not in ("snake", "snakebeta"):
            raise ValueError(f"BigVGAN activation must be 'snake' or 'snakebeta', got {self.activation!r}")
        if str(self.resblock) not in ("1", "2"):
            raise ValueError(f"BigVGAN resblock must be '1' or '2', got {self.resblock!r}")
        self.resblock = str(self.resblock)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BigVGANConfig:
        """From the upstream `config.json` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))

    @property
    def upsample_factor(self) -> int:
        """Samples per mel frame: the product of the upsampling rates (the mel's hop)."""
        return math.prod(self.upsample_rates)
