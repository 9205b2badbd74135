"""Checkpoints of IndexTTS 2's semantic front end -> MLX names.

w2v-BERT 2.0 (facebook/w2v-bert-2.0 `model.safetensors`, a `Wav2Vec2BertModel`): `encoder.layers.N` become
`layers.N`, the conv module's two LayerNorms get the shared module's names, 1-D convs go channels-last; dropped are
the SpecAugment vector (training only), the adapter and intermediate FFN (after the hidden states IndexTTS reads),
and every layer above the one it reads. MaskGCT semantic codec (`semantic_codec/model.safetensors`, a `RepCodec`):
weight norm folded, the quantizer's 1x1 projections renamed and re-laid-out; the decoder (training only) dropped.
"""

from __future__ import annotations

import re

import numpy as np

from .....convert.keymap import KeyMap, Rule, fold_weight_norm

_L = r"layers\.(\d+)"
W2VBERT = KeyMap(name="indextts/w2v-bert-2.0", rules=[
    Rule(r"masked_spec_embed|(?:adapter|intermediate_ffn)\..+", None),
    Rule(rf"encoder\.{_L}\.conv_module\.layer_norm\.(weight|bias)", r"layers.\1.conv_layer_norm.\2"),
    Rule(rf"encoder\.{_L}\.conv_module\.depthwise_layer_norm\.(weight|bias)", r"layers.\1.conv_module.norm.\2"),
    Rule(rf"encoder\.{_L}\.conv_module\.(pointwise_conv1|depthwise_conv|pointwise_conv2)\.weight",
         r"layers.\1.conv_module.\2.weight", "conv1d"),
    Rule(rf"encoder\.{_L}\.(.+)", r"layers.\1.\2"),
    Rule(r"(feature_projection\..+)", r"\1"),
])

CODEC = KeyMap(name="indextts/maskgct-semantic-codec", rules=[
    Rule(r"decoder\..+", None),
    Rule(r"(encoder\.0\.(?:embed|convnext\.\d+\.dwconv))\.weight", r"\1.weight", "conv1d"),
    Rule(r"(quantizer\.quantizers\.\d+)\.(in|out)_project\.weight", r"\1.\2_proj.weight", "conv1d"),
    Rule(r"(quantizer\.quantizers\.\d+)\.(in|out)_project\.bias", r"\1.\2_proj.bias"),
    Rule(r"(.+)", r"\1"),
])


def prepare_w2vbert(state: dict[str, np.ndarray], num_layers: int) -> dict[str, np.ndarray]:
    """Strip a task model's `wav2vec2_bert.` prefix; drop the layers at and above `num_layers` (never run)."""
    out = {}
    for k, v in state.items():
        k = k.removeprefix("wav2vec2_bert.")
        m = re.match(r"encoder\.layers\.(\d+)\.", k)
        if m and int(m.group(1)) >= num_layers:
            continue
        out[k] = v
    return out


def prepare_codec(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold the quantizer projections' weight norm (torch's `weight_norm`, dim 0)."""
    return fold_weight_norm(state, dim=0)
