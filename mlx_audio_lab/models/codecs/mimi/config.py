"""Mimi's hyper-parameters, read from a Hugging Face `config.json` (transformers' MimiConfig)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked
from ..seanet_config import SEANetConfig


@dataclass
class MimiConfig(SEANetConfig):
    """The fields of transformers' MimiConfig that the MLX port uses (defaults: kyutai/mimi); the SEANet ones
    come from `SEANetConfig`, with Mimi's defaults where they differ."""

    hidden_size: int = 512
    num_filters: int = 64
    upsampling_ratios: list[int] = field(default_factory=lambda: [8, 6, 5, 4])
    last_kernel_size: int = 3
    pad_mode: str = "constant"
    use_conv_shortcut: bool = False
    codebook_size: int = 2048
    codebook_dim: int = 256
    num_quantizers: int = 32
    vector_quantization_hidden_dimension: int = 256
    num_semantic_quantizers: int = 1
    upsample_groups: int = 512
    num_hidden_layers: int = 8
    intermediate_size: int = 2048
    num_attention_heads: int = 8
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "gelu"
    max_position_embeddings: int = 8000
    norm_eps: float = 1e-5
    rope_theta: float = 10_000.0
    sliding_window: int | None = 250
    layer_scale_initial_scale: float = 0.01
    attention_bias: bool = False
    frame_rate: float | None = None
    model_type: str = "mimi"

    def __post_init__(self) -> None:
        self.num_key_value_heads = self.num_key_value_heads or self.num_attention_heads
        self.head_dim = self.head_dim or self.hidden_size // self.num_attention_heads
        if self.frame_rate is None:  # transformers: one more stride-2 conv after the SEANet strides
            self.frame_rate = self.sampling_rate / (math.prod(self.upsampling_ratios) * 2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MimiConfig:
        """From a HF `config.json` (unknown keys ignored; `rope_parameters` and `_frame_rate` understood)."""
        d = dict(d)
        if isinstance(d.get("rope_parameters"), dict) and "rope_theta" in d["rope_parameters"]:
            d.setdefault("rope_theta", d["rope_parameters"]["rope_theta"])
        if d.get("frame_rate") is None and d.get("_frame_rate") is not None:
            d["frame_rate"] = d["_frame_rate"]
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))

    @property
    def encodec_frame_rate(self) -> int:
        """Frames per second after the SEANet encoder (before the downsampling conv)."""
        return math.ceil(self.sampling_rate / math.prod(self.upsampling_ratios))

    @property
    def latent_stride(self) -> int:
        """Stride of the downsampling conv (and of the upsampling transposed conv)."""
        return int(self.encodec_frame_rate / self.frame_rate)

    @property
    def frame_size(self) -> int:
        """Samples per code frame (1920 at 24 kHz: 80 ms)."""
        return math.prod(self.upsampling_ratios) * self.latent_stride
