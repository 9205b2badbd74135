"""DAC checkpoints (transformers' DacModel layout, descript/dac_*) -> MLX parameters.

Weight norm is folded first (`weight_g/_v` or `parametrizations.weight.original0/1`; plain `weight` passes),
Snake's `alpha` (1, C, 1) becomes (C,), then the table below renames nothing and re-lays-out the convs.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm

HF_KEYMAP = KeyMap(
    name="dac/hf",
    rules=[
        Rule(r"(decoder\.block\.\d+\.conv_t1)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(.+\.(?:conv\d|in_proj|out_proj))\.weight", r"\1.weight", "conv1d"),
        Rule(r"(.+\.(?:conv\d|conv_t1|in_proj|out_proj)\.bias)", r"\1"),
        Rule(r"(.+\.snake\d\.alpha)", r"\1"),
        Rule(r"(quantizer\.quantizers\.\d+\.codebook\.weight)", r"\1"),
    ],
)


def prepare_hf(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (dim 0 for both conv kinds, torch's default) and flatten Snake's alpha to (C,)."""
    out = fold_weight_norm(state, dim=0)
    return {k: v.reshape(-1) if k.endswith(".alpha") else v for k, v in out.items()}
