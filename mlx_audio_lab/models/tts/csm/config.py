"""CSM's configuration, read from a Hugging Face `config.json` (transformers' CsmConfig: backbone at the top
level, `depth_decoder_config` and `codec_config` inside)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from mlx_lm.models import llama

from ....convert.validate import checked
from ....generation.backbone import llama_args

# transformers' CsmConfig / CsmDepthDecoderConfig defaults (sesame/csm-1b), used where config.json omits a key.
BACKBONE_DEFAULTS: dict[str, Any] = {
    "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "attention_bias": False,
    "mlp_bias": False, "hidden_act": "silu",
}
DEPTH_DEFAULTS: dict[str, Any] = {
    "hidden_size": 1024, "intermediate_size": 8192, "num_hidden_layers": 4, "num_attention_heads": 8,
    "num_key_value_heads": 2, "max_position_embeddings": 33, "rms_norm_eps": 1e-5, "attention_bias": False,
    "mlp_bias": False, "hidden_act": "silu", "backbone_hidden_size": 2048,
}
@dataclass
class CsmConfig:
    """The backbone (Llama-style, codebook 0), the depth decoder (codebooks 1..N-1) and the Mimi codec."""

    backbone: dict[str, Any] = field(default_factory=dict)
    depth: dict[str, Any] = field(default_factory=dict)
    codec: dict[str, Any] = field(default_factory=dict)
    num_codebooks: int = 32
    vocab_size: int = 2051  # audio ids per codebook
    text_vocab_size: int = 128256
    audio_token_id: int = 128002
    audio_eos_token_id: int = 128003
    codebook_eos_token_id: int = 0
    codebook_pad_token_id: int = 2050
    model_type: str = "csm"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CsmConfig:
        """From HF `config.json` (unknown keys ignored; sub-configs kept whole), or this class's own dict (the
        project's MLX layout)."""
        if isinstance(d.get("backbone"), dict):
            names = {f.name for f in fields(cls)}
            return checked(cls(**{k: v for k, v in d.items() if k in names}))
        backbone = {**BACKBONE_DEFAULTS, **{k: v for k, v in d.items() if k not in ("depth_decoder_config",
                                                                                     "codec_config")}}
        depth = {**DEPTH_DEFAULTS, **(d.get("depth_decoder_config") or {})}
        eos = d.get("codebook_eos_token_id", 0)
        return checked(cls(backbone=backbone, depth=depth, codec=dict(d.get("codec_config") or {"model_type": "mimi"}),
                   num_codebooks=d.get("num_codebooks", 32), vocab_size=d.get("vocab_size", 2051),
                   text_vocab_size=d.get("text_vocab_size", 128256), audio_token_id=d.get("audio_token_id", 128002),
                   audio_eos_token_id=d.get("audio_eos_token_id", 128003),
                   codebook_eos_token_id=eos[0] if isinstance(eos, list) else eos,
                   codebook_pad_token_id=d.get("codebook_pad_token_id", 2050)))

    @property
    def backbone_args(self) -> llama.ModelArgs:
        """mlx-lm ModelArgs of the backbone's blocks."""
        return llama_args(self.backbone)

    @property
    def depth_args(self) -> llama.ModelArgs:
        """mlx-lm ModelArgs of the depth decoder's blocks."""
        return llama_args(self.depth)
