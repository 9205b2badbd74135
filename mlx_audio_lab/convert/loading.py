"""Put converted weights into an MLX model: the one loading path every port shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from .keymap import KeyMap, apply_keymap
from .quantize import quantize_model
from .save import quantization_of
from .validate import check_weights


def cast(v: np.ndarray | mx.array, dtype: mx.Dtype) -> mx.array:
    """An MLX array in `dtype` if it is floating point (integer and packed quantized weights stay as they are)."""
    a = mx.array(v)
    return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a


def fill_model(
    model: nn.Module,
    state: Mapping[str, np.ndarray],
    keymap: KeyMap,
    config: dict,
    source: str | Path,
    dtype: mx.Dtype = mx.float32,
    quantize: int | None = None,
    group_size: int = 64,
    optional: Iterable[str] = (),
    complete: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> nn.Module:
    """Map `state` with `keymap`, check it key by key, load it, quantize if asked; returns the model in eval mode.

    A folder saved quantized (`config` says so) is quantized before loading so the packed shapes agree;
    `complete` may add weights the checkpoint leaves out (listed in `optional`), e.g. fixed sinusoids.
    """
    saved_q = quantization_of(config)
    if saved_q:
        quantize_model(model, bits=saved_q["bits"], group_size=saved_q["group_size"])
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = apply_keymap(state, keymap, expected, source=str(source), optional=optional)
    if complete is not None:
        weights = complete(weights)
    # dtype family and NaN / inf, tensor by tensor, before anything reaches the model
    check_weights(weights, {k: v.dtype for k, v in tree_flatten(model.parameters())}, str(source))
    model.load_weights([(k, cast(v, dtype)) for k, v in weights.items()], strict=True)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    return model
