"""Orpheus's configuration: the upstream `config.json` is a plain Llama config (`LlamaForCausalLM`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ....generation.backbone import LlamaTTSConfig

# canopylabs/orpheus-3b-0.1-ft is Llama-3.2-3B with 28,684 added tokens (vocabulary 156,940); missing keys
# take these values (see benchmarks/configs/orpheus-3b-0.1-ft.json for the source).
DEFAULTS: dict[str, Any] = {
    "model_type": "llama", "vocab_size": 156940, "hidden_size": 3072, "intermediate_size": 8192,
    "num_hidden_layers": 28, "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
}

SAMPLE_RATE = 24_000  # snac_24khz
# Sampling of the reference engine (`orpheus_tts.OrpheusModel.generate_speech`): temperature 0.6, top-p 0.8,
# repetition penalty 1.3; end of speech stops; 1200 new tokens at most.
ENGINE_SAMPLING = {"temperature": 0.6, "top_p": 0.8, "repetition_penalty": 1.3}
ENGINE_MAX_TOKENS = 1200
VOICES = ("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe")  # the 0.1-ft speakers


@dataclass
class OrpheusConfig(LlamaTTSConfig):
    """The Llama backbone's config dict plus Orpheus's model type (see `LlamaTTSConfig`)."""

    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    model_type: str = "orpheus"
