"""EnCodec checkpoints -> MLX parameters: weight norm folded, then a key-map table (data).

transformers 5 saves weight-normed convs as `conv.parametrizations.weight.original0/1` (older files, such as
facebook/encodec_24khz, as `conv.weight_g/_v`); `fold_weight_norm` turns both into `conv.weight`.
The codebooks' training statistics (`inited`, `cluster_size`, `embed_avg`) are not needed to run.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from .config import EncodecConfig
from .model import transposed_conv_indices


def hf_keymap(cfg: EncodecConfig) -> KeyMap:
    """The table for transformers' EncodecModel; the transposed convs' positions come from the config."""
    up = "|".join(str(i) for i in transposed_conv_indices(cfg))
    return KeyMap(
        name="encodec/hf",
        rules=[
            Rule(rf"decoder\.layers\.({up})\.conv\.weight", r"decoder.layers.\1.conv.weight", "conv_transpose1d"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?conv)\.weight", r"\1.weight", "conv1d"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.(?:block\.\d+\.|shortcut\.)?(?:conv|norm)\.(?:weight|bias))", r"\1"),
            Rule(r"((?:en|de)coder\.layers\.\d+\.lstm\.(?:weight|bias)_(?:ih|hh)_l\d+)", r"\1"),
            Rule(r"(quantizer\.layers\.\d+\.codebook\.embed)", r"\1"),
            Rule(r"quantizer\.layers\.\d+\.codebook\.(?:inited|cluster_size|embed_avg)", None),
        ],
    )


def prepare_hf(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (dim 0, torch's default for both conv kinds) before the table is applied."""
    return fold_weight_norm(state, dim=0)
