"""BigVGAN checkpoints (`bigvgan_generator.pt` of nvidia/bigvgan_*: `{"generator": state_dict}`) -> MLX.

Weight norm (`weight_g` / `weight_v`, torch's old `weight_norm`, or parametrizations) is folded first; checkpoints
saved after `remove_weight_norm` carry plain `.weight`s and pass as they are. The low-pass filters are buffers
upstream (`activations.N.upsample.filter`, `.downsample.lowpass.filter`); the port computes the same taps, so
`prepare` checks the checkpoint's against them and the table drops them. Snake's alpha / beta are (C,) on both sides.
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from ....layers.antialias import kaiser_sinc_filter

PREFIX = "generator."
FILTER_SUFFIXES = (".upsample.filter", ".downsample.lowpass.filter")

HF_KEYMAP = KeyMap(
    name="bigvgan/upstream",
    rules=[
        Rule(r"(.+)\.(?:upsample\.filter|downsample\.lowpass\.filter)", None),  # fixed taps, computed by the port
        Rule(r"(ups\.\d+\.0)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(.+\.act\.(?:alpha|beta))", r"\1"),
        Rule(r"(.+)\.weight", r"\1.weight", "conv1d"),
        Rule(r"(.+)\.bias", r"\1.bias"),
    ],
)


def check_filters(state: dict[str, np.ndarray], atol: float = 1e-6) -> None:
    """Every low-pass buffer equals the port's taps (2x resampling, 12 taps); raise naming the first that does not."""
    want = kaiser_sinc_filter(0.25, 0.3, 12)
    for key, taps in state.items():
        if key.endswith(FILTER_SUFFIXES):
            got = np.asarray(taps, np.float32).reshape(-1)
            if got.shape != want.shape or np.abs(got - want).max() > atol:
                raise ValueError(f"{key}: low-pass taps {got.round(6).tolist()} are not the 2x Kaiser-sinc filter "
                                 f"this port computes ({want.round(6).tolist()}); it cannot load this checkpoint")


def prepare(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Strip the `generator.` prefix (the file's one top-level key), fold weight norm (dim 0), check the filters."""
    state = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in state.items()}
    out = fold_weight_norm(state, dim=0)
    check_filters(out)
    return out
