"""Wav2Vec2ForCTC checkpoints -> MLX parameters: key-map tables plus the positional conv's weight norm.

Names already match transformers', so the table only re-lays-out convolutions and drops training-only keys.
The MLX community layout is the Hugging Face one: mlx-audio (`stt/models/mms`, `stt/models/wav2vec`) reads
the upstream `model.safetensors` and transposes the convolutions at load; a quantized folder adds
`.scales` / `.biases` beside the linear weights and a `quantization` block in `config.json`.
"""

from __future__ import annotations

import re

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from ....convert.weight_norm import split_state

_CONVS = [
    Rule(r"(wav2vec2\.feature_extractor\.conv_layers\.\d+\.conv)\.weight", r"\1.weight", "conv1d"),
    Rule(r"(wav2vec2\.encoder\.pos_conv_embed\.conv)\.weight", r"\1.weight", "conv1d"),
]

# transformers' Wav2Vec2ForCTC (`facebook/wav2vec2-base-960h`, `-large-960h-lv60-self`, ...).
HF = KeyMap(
    name="wav2vec2/hf",
    rules=[
        *_CONVS,
        Rule(r"wav2vec2\.masked_spec_embed", None),  # SpecAugment's mask vector (training only)
        Rule(r"(wav2vec2\..+|lm_head\.(?:weight|bias))", r"\1"),
    ],
)

# mlx-audio's reading of the same files; quantized linears carry `scales` / `biases` (lm_head included).
MLX_COMMUNITY = KeyMap(
    name="wav2vec2/mlx-community",
    rules=[
        *_CONVS,
        Rule(r"wav2vec2\.masked_spec_embed", None),
        Rule(r"(wav2vec2\..+|lm_head\.(?:weight|bias|scales|biases))", r"\1"),
    ],
)

# The port's parameters -> that layout (convs back to channels-first; (out, k, in) <-> (out, in, k)).
TO_MLX_COMMUNITY = KeyMap(name="wav2vec2/to-mlx-community", rules=[*_CONVS, Rule(r"(.+)", r"\1")])

POS_CONV = "wav2vec2.encoder.pos_conv_embed.conv"


def fold_positional_weight_norm(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold `weight_g`/`weight_v` (or `parametrizations.weight.original0/1`) into one weight.

    wav2vec2 normalizes its positional conv over the kernel axis (torch `dim=2` of (out, in/groups, k)).
    """
    return fold_weight_norm(state, dim=2)


def unfold_positional_weight_norm(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse: the positional conv's weight as `weight_g` (its norm per kernel tap) and `weight_v`."""
    return split_state(state, re.escape(f"{POS_CONV}.weight"), axis=2)
