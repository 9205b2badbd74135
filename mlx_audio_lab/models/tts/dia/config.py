"""Dia's configuration, read from a transformers `config.json` (DiaConfig: `encoder_config`, `decoder_config`,
`delay_pattern`) and the sampling defaults of `generation_config.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# transformers' DiaEncoderConfig / DiaDecoderConfig defaults (nari-labs/Dia-1.6B), where config.json omits a key.
ENCODER_DEFAULTS: dict[str, Any] = {
    "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 12, "num_attention_heads": 16,
    "num_key_value_heads": 16, "head_dim": 128, "norm_eps": 1e-5, "vocab_size": 256, "max_position_embeddings": 1024,
}
DECODER_DEFAULTS: dict[str, Any] = {
    "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 18, "num_attention_heads": 16,
    "num_key_value_heads": 4, "head_dim": 128, "cross_num_attention_heads": 16, "cross_head_dim": 128,
    "cross_num_key_value_heads": 16, "cross_hidden_size": 1024, "norm_eps": 1e-5, "vocab_size": 1028,
    "num_channels": 9, "max_position_embeddings": 3072, "eos_token_id": 1024, "pad_token_id": 1025,
    "bos_token_id": 1026,
}
DELAY_PATTERN = [0, 8, 9, 10, 11, 12, 13, 14, 15]


def rope_theta(sub: dict[str, Any]) -> float:
    """RoPE base of a sub-config (transformers 5 keeps it in `rope_parameters`)."""
    rope = sub.get("rope_parameters") or {}
    return float(rope.get("rope_theta", sub.get("rope_theta", 10000.0)))


@dataclass
class DiaConfig:
    """The text encoder, the audio decoder over `num_channels` DAC codebooks, and the delay pattern."""

    encoder: dict[str, Any] = field(default_factory=lambda: dict(ENCODER_DEFAULTS))
    decoder: dict[str, Any] = field(default_factory=lambda: dict(DECODER_DEFAULTS))
    delay_pattern: list[int] = field(default_factory=lambda: list(DELAY_PATTERN))
    model_type: str = "dia"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiaConfig:
        """From transformers' `config.json` (or this class's own dict, the project's MLX layout)."""
        enc = d.get("encoder_config", d.get("encoder")) or {}
        dec = d.get("decoder_config", d.get("decoder")) or {}
        delays = list(d.get("delay_pattern") or DELAY_PATTERN)
        cfg = cls({**ENCODER_DEFAULTS, **enc}, {**DECODER_DEFAULTS, **dec}, delays)
        if len(cfg.delay_pattern) != cfg.num_channels:
            raise ValueError(f"delay_pattern has {len(cfg.delay_pattern)} entries for {cfg.num_channels} channels")
        return cfg

    @property
    def num_channels(self) -> int:
        return int(self.decoder["num_channels"])

    @property
    def vocab_size(self) -> int:
        """Ids per channel: the codec's codes, then EOS, PAD, BOS (1024, 1025, 1026 for DAC 44 kHz)."""
        return int(self.decoder["vocab_size"])

    @property
    def eos(self) -> int:
        return int(self.decoder["eos_token_id"])

    @property
    def pad(self) -> int:
        return int(self.decoder["pad_token_id"])

    @property
    def bos(self) -> int:
        return int(self.decoder["bos_token_id"])

    @property
    def max_delay(self) -> int:
        return max(self.delay_pattern)


@dataclass(frozen=True)
class GenerationDefaults:
    """`generation_config.json`'s sampling; a missing key takes transformers' GenerationConfig default
    (nari-labs/Dia-1.6B: sampled at temperature 1.8, top-k 45, top-p 0.95, guidance scale 3)."""

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    guidance_scale: float = 1.0

    @classmethod
    def read(cls, folder: Path) -> GenerationDefaults:
        path = Path(folder) / "generation_config.json"
        g = {k: v for k, v in (json.loads(path.read_text()) if path.is_file() else {}).items() if v is not None}
        base = cls()
        return cls(do_sample=bool(g.get("do_sample", base.do_sample)),
                   temperature=float(g.get("temperature", base.temperature)),
                   top_k=int(g.get("top_k", base.top_k)), top_p=float(g.get("top_p", base.top_p)),
                   guidance_scale=float(g.get("guidance_scale", base.guidance_scale)))
