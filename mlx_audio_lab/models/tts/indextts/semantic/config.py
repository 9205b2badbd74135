"""Configurations of IndexTTS 2's semantic front end: w2v-BERT 2.0 (`config.json` and `preprocessor_config.json`
of facebook/w2v-bert-2.0) and the MaskGCT semantic codec (the `semantic_codec:` section of IndexTTS's config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .....convert.validate import checked
from .....errors import ConfigError

HIDDEN_LAYER = 17  # IndexTTS 2 reads `hidden_states[17]`: the output of the 17th conformer layer


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass
class W2VBertConfig:
    """transformers' `Wav2Vec2BertConfig` fields the encoder uses (defaults: facebook/w2v-bert-2.0)."""

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    feature_projection_input_dim: int = 160
    hidden_act: str = "swish"
    layer_norm_eps: float = 1e-5
    position_embeddings_type: str | None = "relative_key"
    left_max_position_embeddings: int = 64
    right_max_position_embeddings: int = 8
    conv_depthwise_kernel_size: int = 31

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config.json") -> W2VBertConfig:
        cfg = checked(cls(**_known(cls, d)), source)
        if cfg.position_embeddings_type != "relative_key":
            raise ConfigError(f"{source}: position_embeddings_type {cfg.position_embeddings_type!r}; only "
                              "'relative_key' (w2v-BERT 2.0's) is ported")
        if cfg.hidden_act not in ("swish", "silu"):
            raise ConfigError(f"{source}: hidden_act {cfg.hidden_act!r}; only 'swish' (w2v-BERT 2.0's) is ported")
        return cfg


@dataclass
class FeatureConfig:
    """`SeamlessM4TFeatureExtractor` settings (preprocessor_config.json): 80 Kaldi bands, 2 frames stacked."""

    sampling_rate: int = 16000
    num_mel_bins: int = 80
    stride: int = 2
    padding_value: float = 1.0  # w2v-bert-2.0's: the frame padding an odd count to a multiple of `stride`

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "preprocessor_config.json") -> FeatureConfig:
        return checked(cls(**_known(cls, d)), source)


@dataclass
class SemanticCodecConfig:
    """`RepCodec` hyper-parameters (IndexTTS 2's config.yaml `semantic_codec:`; defaults as upstream's)."""

    codebook_size: int = 8192
    hidden_size: int = 1024
    codebook_dim: int = 8
    vocos_dim: int = 384
    vocos_intermediate_dim: int = 2048
    vocos_num_layers: int = 12
    num_quantizers: int = 1
    downsample_scale: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config.yaml: semantic_codec") -> SemanticCodecConfig:
        cfg = checked(cls(**_known(cls, d)), source)
        if cfg.downsample_scale is not None and cfg.downsample_scale > 1:
            raise ConfigError(f"{source}: downsample_scale {cfg.downsample_scale}; only IndexTTS 2's codec "
                              "(no downsampling) is ported")
        return cfg
