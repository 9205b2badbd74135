"""SNAC checkpoints (`pytorch_model.bin` of hubertsiuzdak/snac_*, the `snac` package's state dict) -> MLX.

Weight norm is folded first (`parametrizations.weight.original0/1`, or older `weight_g/_v`), Snake's `alpha`
(1, C, 1) becomes (C,). The table keeps the Sequential indices and renames only inside the residual units
(`block.0..3` -> the shared `SnakeResidualUnit`'s `snake1, conv1, snake2, conv2`).
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm

# A residual unit: encoder block N, items 0-2; decoder block N, any item (the snake/convT/noise never nest).
_RU = r"((?:encoder\.block\.\d+\.block\.[012])|(?:decoder\.model\.\d+\.block\.\d+))\.block"

HF_KEYMAP = KeyMap(
    name="snac/upstream",
    rules=[
        Rule(_RU + r"\.0\.alpha", r"\1.snake1.alpha"),
        Rule(_RU + r"\.1\.weight", r"\1.conv1.weight", "conv1d"),
        Rule(_RU + r"\.1\.bias", r"\1.conv1.bias"),
        Rule(_RU + r"\.2\.alpha", r"\1.snake2.alpha"),
        Rule(_RU + r"\.3\.weight", r"\1.conv2.weight", "conv1d"),
        Rule(_RU + r"\.3\.bias", r"\1.conv2.bias"),
        Rule(r"(decoder\.model\.\d+\.block\.1)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(.+\.(?:to_qkv|to_out)\.weight)", r"\1"),  # Linear: same layout
        Rule(r"(.+\.(?:norm\.(?:weight|bias)|rel_pos\.inv_freq|alpha))", r"\1"),
        Rule(r"(quantizer\.quantizers\.\d+\.codebook\.weight)", r"\1"),
        Rule(r"(.+)\.weight", r"\1.weight", "conv1d"),  # every other weight is a conv's
        Rule(r"(.+)\.bias", r"\1.bias"),
    ],
)


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (dim 0, torch's default) and flatten Snake's alpha to (C,)."""
    out = fold_weight_norm(state, dim=0)
    return {k: v.reshape(-1) if k.endswith(".alpha") else v for k, v in out.items()}
