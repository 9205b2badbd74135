"""IndexTTS 2's GPT stage configuration: the `gpt:` section of the upstream `config.yaml`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked


@dataclass
class ConformerConfig:
    """`condition_module` / `emo_condition_module`: a WeNet Conformer over 1024-dim w2v-BERT features."""

    output_size: int = 512
    linear_units: int = 2048
    attention_heads: int = 8
    num_blocks: int = 6
    input_layer: str = "conv2d2"
    perceiver_mult: int = 2
    input_size: int = 1024  # w2v-BERT 2.0 hidden size (fixed upstream)
    cnn_module_kernel: int = 15

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConformerConfig:
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))


@dataclass
class IndexTTSConfig:
    """`UnifiedVoice` hyper-parameters (names as upstream)."""

    model_dim: int = 1280
    layers: int = 24
    heads: int = 20
    max_text_tokens: int = 600
    max_mel_tokens: int = 1815
    max_conditioning_inputs: int = 1
    number_text_tokens: int = 12000
    number_mel_codes: int = 8194
    start_mel_token: int = 8192
    stop_mel_token: int = 8193
    start_text_token: int = 0
    stop_text_token: int = 1
    condition_num_latent: int = 32
    condition_type: str = "conformer_perceiver"
    condition_module: ConformerConfig = field(default_factory=ConformerConfig)
    emo_condition_module: ConformerConfig = field(
        default_factory=lambda: ConformerConfig(linear_units=1024, attention_heads=4, num_blocks=4))
    emo_dim: int = 1024  # the emotion perceiver's width (fixed upstream)
    model_type: str = "indextts"  # written into the project's MLX layout (upstream's config.yaml has none)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexTTSConfig:
        """From the `gpt:` mapping (or the whole config.yaml mapping)."""
        d = dict(d.get("gpt", d))
        names = {f.name for f in fields(cls)}
        out = {k: v for k, v in d.items() if k in names}
        for key in ("condition_module", "emo_condition_module"):
            if isinstance(out.get(key), dict):
                out[key] = ConformerConfig.from_dict(out[key])
        if out.get("condition_type", "conformer_perceiver") != "conformer_perceiver":
            raise ValueError(f"condition_type {out['condition_type']!r}: only 'conformer_perceiver' is ported")
        return checked(cls(**out))
