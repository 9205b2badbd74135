"""S3TokenizerV2's hyper-parameters: the `s3tokenizer.model_v2.ModelConfig` fields (defaults: the real 25 Hz model).

The upstream model ships no config file (the ONNX graph fixes the sizes); our folders carry these fields in a
`config.json`, and a folder without one gets the sizes its weights' shapes say (`sizes_from_shapes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from ....convert.validate import checked
from ....errors import ConfigError


@dataclass
class S3TokenizerConfig:
    """Sizes of `speech_tokenizer_v2_25hz` (1280 wide, 20 heads of 64, 6 blocks, 3^8 tokens) and its front end."""

    n_mels: int = 128
    n_audio_ctx: int = 1500
    n_audio_state: int = 1280
    n_audio_head: int = 20
    n_audio_layer: int = 6
    n_codebook_size: int = 3**8
    sample_rate: int = 16_000
    n_fft: int = 400
    hop_length: int = 160  # 100 mel frames per second; two stride-2 convs -> 25 tokens per second
    fsmn_kernel: int = 31
    rope_theta: float = 10_000.0
    rope_positions: int = 2048  # the reference's rotary table: 2048 tokens (~82 s) at most in one window
    fsq_levels: int = 3  # each of the 8 projected values rounds to -1, 0 or 1
    fsq_dims: int = 8

    def __post_init__(self) -> None:
        checked(self)  # types first: the checks below compute with them
        if self.n_audio_state % self.n_audio_head or self.n_audio_state // self.n_audio_head != 64:
            raise ConfigError(f"n_audio_state {self.n_audio_state} / n_audio_head {self.n_audio_head} must be 64: "
                              "S3TokenizerV2's rotary table is 64 wide per head")
        if self.fsq_levels**self.fsq_dims != self.n_codebook_size:
            raise ConfigError(f"n_codebook_size {self.n_codebook_size} must be {self.fsq_levels}^{self.fsq_dims}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> S3TokenizerConfig:
        """From a `config.json` (unknown keys such as `use_sdpa` or `model_type` ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def sizes_from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
        """Width, depth, heads (64 wide each) and mel bins read off the upstream state dict's shapes."""
        out_channels, n_mels, _ = shapes["encoder.conv1.weight"]  # (C, n_mels, 3), torch layout
        layers = {int(m.group(1)) for k in shapes if (m := re.match(r"encoder\.blocks\.(\d+)\.", k))}
        return {"n_mels": int(n_mels), "n_audio_state": int(out_channels), "n_audio_head": int(out_channels) // 64,
                "n_audio_layer": len(layers)}

    @property
    def head_dim(self) -> int:
        return self.n_audio_state // self.n_audio_head

    @property
    def token_rate(self) -> float:
        """Speech tokens per second (25)."""
        return self.sample_rate / self.hop_length / 4

    @property
    def samples_per_token(self) -> int:
        return self.hop_length * 4
