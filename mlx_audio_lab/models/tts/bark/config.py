"""Bark's configuration, read from a Hugging Face `config.json` (transformers' BarkConfig: `semantic_config`,
`coarse_acoustics_config`, `fine_acoustics_config`, `codec_config`) and `generation_config.json` (the constants
that glue the three stages together: token offsets, pads, rates, window lengths)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ....convert.validate import checked


@dataclass
class GPTConfig:
    """One of Bark's GPTs (transformers' BarkSubModelConfig; the fine model adds the codebook counts)."""

    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    block_size: int = 1024
    input_vocab_size: int = 10_048
    output_vocab_size: int = 10_048
    bias: bool = True
    n_codes_total: int = 8
    n_codes_given: int = 1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        names = {f.name for f in fields(cls)}
        aliases = {"num_hidden_layers": "num_layers", "num_attention_heads": "num_heads"}
        return checked(cls(**{aliases.get(k, k): v for k, v in d.items() if aliases.get(k, k) in names}))


@dataclass
class BarkConfig:
    """The three GPTs and the EnCodec codec (its config kept whole for the EnCodec port)."""

    semantic: GPTConfig = field(default_factory=GPTConfig)
    coarse: GPTConfig = field(default_factory=GPTConfig)
    fine: GPTConfig = field(default_factory=GPTConfig)
    codec: dict[str, Any] = field(default_factory=dict)
    model_type: str = "bark"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BarkConfig:
        """From HF `config.json`, or this class's own dict (the project's MLX layout)."""
        if isinstance(d.get("semantic"), dict):
            return cls(*(GPTConfig.from_dict(d[k]) for k in ("semantic", "coarse", "fine")), dict(d.get("codec") or {}))
        return cls(GPTConfig.from_dict(d.get("semantic_config") or {}),
                   GPTConfig.from_dict(d.get("coarse_acoustics_config") or {}),
                   GPTConfig.from_dict(d.get("fine_acoustics_config") or {}),
                   dict(d.get("codec_config") or {"model_type": "encodec"}))


@dataclass
class GenerationConfig:
    """transformers' BarkGenerationConfig (defaults: suno/bark's), flattened: what each stage's loop needs."""

    # semantic: text ids + offset -> semantic tokens (EOS = pad = semantic_vocab_size)
    semantic_vocab_size: int = 10_000
    text_encoding_offset: int = 10_048
    text_pad_token: int = 129_595
    semantic_infer_token: int = 129_599
    max_input_semantic_length: int = 256
    semantic_rate_hz: float = 49.9
    semantic_max_new_tokens: int = 768
    min_eos_p: float | None = None
    # coarse: 2 codebooks interleaved, ids offset by semantic_vocab_size (+ codebook_size for the second)
    coarse_semantic_pad_token: int = 12_048
    coarse_infer_token: int = 12_050
    coarse_rate_hz: float = 75.0
    n_coarse_codebooks: int = 2
    max_coarse_input_length: int = 256
    max_coarse_history: int = 630
    sliding_window_len: int = 60
    # fine: all codebooks, non-causal, windows of max_fine_input_length frames
    n_fine_codebooks: int = 8
    max_fine_input_length: int = 1024
    max_fine_history_length: int = 512
    codebook_size: int = 1024
    sample_rate: int = 24_000
    # sampling of each stage (do_sample false -> temperature 0); the fine stage reads only its temperature
    semantic_temperature: float = 0.0
    coarse_temperature: float = 0.0
    fine_temperature: float | None = None

    @property
    def semantic_to_coarse_ratio(self) -> float:
        """Coarse tokens (both codebooks) per semantic token."""
        return self.coarse_rate_hz / self.semantic_rate_hz * self.n_coarse_codebooks

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerationConfig:
        """From `generation_config.json` (nested sub-configs) or this class's own flat dict."""
        names = {f.name for f in fields(cls)}
        if "semantic_config" not in d:
            return cls(**{k: v for k, v in d.items() if k in names})
        s, c, f = (d.get(k) or {} for k in ("semantic_config", "coarse_acoustics_config", "fine_acoustics_config"))
        out = {k: v for sub in (s, c, f) for k, v in sub.items() if k in names}
        out.update({k: d[k] for k in ("codebook_size", "sample_rate") if k in d})
        if "max_new_tokens" in s:
            out["semantic_max_new_tokens"] = s["max_new_tokens"]
        out["semantic_temperature"] = (s.get("temperature") or 1.0) if s.get("do_sample") else 0.0
        out["coarse_temperature"] = (c.get("temperature") or 1.0) if c.get("do_sample") else 0.0
        out["fine_temperature"] = f.get("temperature")
        return cls(**out)

    @classmethod
    def from_folder(cls, folder: Path) -> GenerationConfig:
        path = Path(folder) / "generation_config.json"
        return cls.from_dict(json.loads(path.read_text())) if path.is_file() else cls()
