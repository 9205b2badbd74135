"""What the codecs' mlx-community layouts share: float parameters to export, weight norm kept as gain and
direction in MLX's layout.

mlx-audio's DAC and SNAC store each weight-normed conv as `X.weight_g` and `X.weight_v`, channels-last, and
compute `weight = g * v / ||v||` on every call; the gain has size 1 on each axis the norm runs over (the axis it
keeps depends on the layer: 0 for convolutions, 2 for DAC's transposed ones, 0 for SNAC's (in, k, out) ones).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from ...convert.weight_norm import LEGACY, fold_state, weight_norm_gain

GAIN, DIRECTION = LEGACY


def numpy_params(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's parameters by flat name as numpy arrays (bfloat16 as float32: numpy has no bfloat16)."""
    return {k: np.array(v.astype(mx.float32) if v.dtype == mx.bfloat16 else v)
            for k, v in tree_flatten(model.parameters())}


def fold_gains(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Replace every `X.weight_g` / `X.weight_v` pair by `X.weight`; the norm runs where the gain has size 1.

    An axis of size 1 in both gain and direction reduces to the same value either way, so the gain's shape
    alone says which axis a layer keeps. A lone half of a pair is left for the key map to report.
    """
    return fold_state(state)


def add_gains(weights: Mapping[str, np.ndarray], keep: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Give every `X.weight_v` (a plain weight, exported as the direction) its gain `X.weight_g` = ||v||.

    The norm keeps axis 0 unless a regex of `keep` fully matches the key (then the axis it names).
    """
    rules = [(re.compile(p), axis) for p, axis in (keep or {}).items()]
    out = dict(weights)
    for k, v in weights.items():
        if k.endswith(DIRECTION):
            axis = next((a for rx, a in rules if rx.fullmatch(k)), 0)
            out[k[: -len(DIRECTION)] + GAIN] = weight_norm_gain(np.asarray(v), axis)
    return out


def reshape_matching(weights: Mapping[str, np.ndarray], pattern: str, shape: tuple[int, ...]
                     ) -> dict[str, np.ndarray]:
    """Reshape the arrays whose key fully matches `pattern` (one -1 in `shape` takes the rest)."""
    rx = re.compile(pattern)
    return {k: np.reshape(v, shape) if rx.fullmatch(k) else v for k, v in weights.items()}


def swap_matching(weights: Mapping[str, np.ndarray], pattern: str) -> dict[str, np.ndarray]:
    """Swap the first and last axes of the arrays whose key fully matches `pattern` ((in, k, out) <-> (out, k, in))."""
    rx = re.compile(pattern)
    return {k: np.swapaxes(v, 0, -1) if rx.fullmatch(k) else v for k, v in weights.items()}


def flat_alphas(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Snake's `alpha`, stored (1, C, 1) or (1, 1, C), as the port's (C,)."""
    return {k: v.reshape(-1) if k.endswith(".alpha") else v for k, v in state.items()}
