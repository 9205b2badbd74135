"""Wav2Vec2ForCTC checkpoints -> MLX parameters: a key-map table plus the positional conv's weight norm.

Names already match transformers', so the table only re-lays-out convolutions and drops training-only keys.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm

# transformers' Wav2Vec2ForCTC (`facebook/wav2vec2-base-960h`, `-large-960h-lv60-self`, ...).
HF = KeyMap(
    name="wav2vec2/hf",
    rules=[
        Rule(r"(wav2vec2\.feature_extractor\.conv_layers\.\d+\.conv)\.weight", r"\1.weight", "conv1d"),
        Rule(r"(wav2vec2\.encoder\.pos_conv_embed\.conv)\.weight", r"\1.weight", "conv1d"),
        Rule(r"wav2vec2\.masked_spec_embed", None),  # SpecAugment's mask vector (training only)
        Rule(r"(wav2vec2\..+|lm_head\.(?:weight|bias))", r"\1"),
    ],
)


def fold_positional_weight_norm(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold `weight_g`/`weight_v` (or `parametrizations.weight.original0/1`) into one weight.

    wav2vec2 normalizes its positional conv over the kernel axis (torch `dim=2` of (out, in/groups, k)).
    """
    return fold_weight_norm(state, dim=2)
