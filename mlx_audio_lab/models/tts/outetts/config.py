"""OuteTTS 1.0's configuration: the upstream `config.json` is a plain Llama config (`LlamaForCausalLM`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ....generation.backbone import LlamaTTSConfig

# OuteAI/Llama-OuteTTS-1.0-1B is Llama-3.2-1B with OuteTTS's added tokens; missing keys take these values
# (see benchmarks/configs/llama-outetts-1.0-1b.json for where they come from).
DEFAULTS: dict[str, Any] = {
    "model_type": "llama", "vocab_size": 134400, "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
}

SAMPLE_RATE = 24_000  # ibm-research/DAC.speech.v1.0: DAC 24 kHz, hop 320 (75 frames/s), 2 codebooks of 1024
# Sampling of the package's defaults (outetts 0.4.4 `SamplerConfig`): temperature 0.4, top-k 40, top-p 0.9,
# min-p 0.05, repetition penalty 1.1 over the last 64 tokens (its patched transformers processor).
ENGINE_SAMPLING = {"temperature": 0.4, "top_k": 40, "top_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.1,
                   "repetition_window": 64}
ENGINE_MAX_LENGTH = 8192  # prompt + generated tokens
DEFAULT_SPEAKER = "en-female-1-neutral"  # the JSON profile the outetts wheel ships


@dataclass
class OuteTTSConfig(LlamaTTSConfig):
    """The Llama backbone's config dict plus OuteTTS's model type (see `LlamaTTSConfig`)."""

    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    model_type: str = "outetts"
