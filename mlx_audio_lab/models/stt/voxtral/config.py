"""Voxtral's configuration, read from a Hugging Face `config.json` (`audio_config` + `text_config`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..whisper.config import WhisperConfig

# transformers' VoxtralEncoderConfig names -> WhisperConfig names (its `attribute_map`, reversed).
AUDIO_NAMES = {
    "hidden_size": "d_model",
    "num_hidden_layers": "encoder_layers",
    "num_attention_heads": "encoder_attention_heads",
    "intermediate_size": "encoder_ffn_dim",
}

# Defaults of VoxtralConfig's text sub-config (Voxtral-Mini-3B-2507), used where config.json omits a key.
TEXT_DEFAULTS: dict[str, Any] = {
    "model_type": "llama", "vocab_size": 131072, "hidden_size": 3072, "intermediate_size": 8192,
    "num_hidden_layers": 30, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 1e8,
    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
}

AUDIO_DEFAULTS: dict[str, Any] = {
    "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20,
    "num_mel_bins": 128, "max_source_positions": 1500, "activation_function": "gelu",
}


@dataclass
class VoxtralConfig:
    """The audio tower (a Whisper encoder), the projector and the Llama text model of Voxtral."""

    audio_config: dict[str, Any] = field(default_factory=dict)
    text_config: dict[str, Any] = field(default_factory=dict)
    audio_token_id: int = 24
    projector_hidden_act: str = "gelu"
    model_type: str = "voxtral"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VoxtralConfig:
        """From HF `config.json` (unknown top-level keys ignored; sub-configs kept whole)."""
        text = {**TEXT_DEFAULTS, **d.get("text_config", {})}
        rope = text.get("rope_parameters") or {}  # transformers 5 writes rope_theta inside rope_parameters
        if "rope_theta" in rope:
            text["rope_theta"] = rope["rope_theta"]
        if rope.get("rope_type", "default") not in ("default", None):
            text["rope_scaling"] = rope
        audio = {**AUDIO_DEFAULTS, **d.get("audio_config", {})}
        return cls(audio_config=audio, text_config=text, audio_token_id=d.get("audio_token_id") or 24,
                   projector_hidden_act=d.get("projector_hidden_act", "gelu"))

    @property
    def audio(self) -> WhisperConfig:
        """The audio tower's dimensions as a WhisperConfig (so the Whisper encoder is reused as is)."""
        a = {AUDIO_NAMES.get(k, k): v for k, v in self.audio_config.items()}
        return WhisperConfig.from_dict({**a, "model_type": "voxtral_encoder"})

    @property
    def stack(self) -> int:
        """Encoder frames stacked into one audio token (intermediate_size / hidden_size, 4 for Voxtral)."""
        return self.audio_config["intermediate_size"] // self.audio_config["hidden_size"]

    @property
    def tokens_per_chunk(self) -> int:
        """Audio tokens per 30 s chunk (1500 encoder frames / 4 = 375)."""
        return self.audio_config["max_source_positions"] // self.stack

    @property
    def eos_token_id(self) -> int:
        eos = self.text_config.get("eos_token_id", 2)
        return eos[0] if isinstance(eos, list) else int(eos)
