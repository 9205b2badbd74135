"""Whisper's dimensions and special tokens, read from a Hugging Face (or MLX community) `config.json`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked


@dataclass
class WhisperConfig:
    """The fields of transformers' WhisperConfig that the MLX port uses."""

    num_mel_bins: int = 80
    d_model: int = 384
    encoder_layers: int = 4
    encoder_attention_heads: int = 6
    encoder_ffn_dim: int = 1536
    decoder_layers: int = 4
    decoder_attention_heads: int = 6
    decoder_ffn_dim: int = 1536
    vocab_size: int = 51864
    max_source_positions: int = 1500
    max_target_positions: int = 448
    decoder_start_token_id: int = 50257
    eos_token_id: int = 50256
    pad_token_id: int = 50256
    begin_suppress_tokens: list[int] = field(default_factory=lambda: [220, 50256])
    suppress_tokens: list[int] = field(default_factory=list)
    alignment_heads: list[list[int]] = field(default_factory=list)
    median_filter_width: int = 7
    activation_function: str = "gelu"
    scale_embedding: bool = False
    model_type: str = "whisper"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WhisperConfig:
        """From HF `config.json` (unknown keys ignored) or the MLX community `n_*` layout."""
        if "n_audio_state" in d:
            d = {
                "num_mel_bins": d["n_mels"], "d_model": d["n_audio_state"],
                "encoder_layers": d["n_audio_layer"], "encoder_attention_heads": d["n_audio_head"],
                "encoder_ffn_dim": 4 * d["n_audio_state"], "decoder_layers": d["n_text_layer"],
                "decoder_attention_heads": d["n_text_head"], "decoder_ffn_dim": 4 * d["n_text_state"],
                "vocab_size": d["n_vocab"], "max_source_positions": d["n_audio_ctx"],
                "max_target_positions": d["n_text_ctx"],
                "decoder_start_token_id": 50257 if d["n_vocab"] < 51865 else 50258,
                "eos_token_id": 50256 if d["n_vocab"] < 51865 else 50257,
                "alignment_heads": d.get("alignment_heads", []),
            }
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))

    @property
    def is_multilingual(self) -> bool:
        """Multilingual vocabularies have 51865 (or more) entries; English-only ones 51864."""
        return self.vocab_size >= 51865

    @property
    def n_frames(self) -> int:
        """Mel frames in one 30 s window (the encoder's two convs halve them once)."""
        return 2 * self.max_source_positions
