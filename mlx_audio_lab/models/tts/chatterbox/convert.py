"""Chatterbox checkpoints (`s3gen.safetensors`, ...) -> MLX: the key maps as data.

Module names follow the checkpoint, so the tables only fold weight norm (before mapping), move PyTorch's
channels-first conv weights to MLX's channels-last, and name what is deliberately left out. Every other key
must land on a parameter and every parameter must be filled (`convert.loading.fill_model` checks both), so a
block of weights cannot be dropped silently (mlx-audio 0.6.2 left S3Gen's 190 conformer weights at random).
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm

S3GEN_KEYMAP = KeyMap(
    name="chatterbox/s3gen",
    rules=[
        # HiFT: transposed convs, Linear layers, then every other weight is a conv's
        Rule(r"(mel2wav\.ups\.\d+)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(mel2wav\.(?:m_source\.l_linear|f0_predictor\.classifier)\.(?:weight|bias))", r"\1"),
        Rule(r"(mel2wav\..+\.(?:alpha|bias))", r"\1"),
        Rule(r"(mel2wav\..+)\.weight", r"\1.weight", "conv1d"),
        # the S3 tokenizer (ported in models/codecs/s3_tokenizer) and its fixed front-end buffers
        Rule(r"tokenizer\..+", None),
    ],
)


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold every weight-normed pair (torch's default dim 0) into its weight."""
    return fold_weight_norm(state, dim=0)
