"""Wav2Vec2's dimensions, read from a Hugging Face `Wav2Vec2Config` `config.json`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked


@dataclass
class Wav2Vec2Config:
    """The fields of transformers' Wav2Vec2Config that the MLX port uses (defaults: wav2vec2-base)."""

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"  # "group" (base) or "layer" (large / lv60)
    feat_extract_activation: str = "gelu"
    conv_dim: list[int] = field(default_factory=lambda: [512] * 7)
    conv_stride: list[int] = field(default_factory=lambda: [5, 2, 2, 2, 2, 2, 2])
    conv_kernel: list[int] = field(default_factory=lambda: [10, 3, 3, 3, 3, 2, 2])
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False  # True: pre-norm blocks and a final layer norm (large)
    vocab_size: int = 32
    pad_token_id: int = 0  # also the CTC blank
    bos_token_id: int = 1
    eos_token_id: int = 2
    add_adapter: bool = False
    model_type: str = "wav2vec2"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Wav2Vec2Config:
        """From HF `config.json` (unknown keys ignored); adapters are not supported."""
        if d.get("add_adapter") or d.get("adapter_attn_dim"):
            raise ValueError("Wav2Vec2 checkpoints with adapters are not supported by the MLX port")
        if d.get("feat_extract_norm", "group") not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', got {d['feat_extract_norm']!r}")
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per output frame (320 for the standard conv stack: 20 ms at 16 kHz)."""
        return math.prod(self.conv_stride)
