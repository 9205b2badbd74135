"""What the codec ports' loaders and references share: building a model from a folder, loading and tapping
the reference."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ...convert.keymap import KeyMap
from ...convert.loading import fill_model
from ...parity import TapPoint

Checkpoint = tuple[dict[str, np.ndarray], dict, KeyMap, str]  # state, config dict, key map, description


def load_codec(folder: str | Path, read_checkpoint: Callable[[Path], Checkpoint],
               build: Callable[[dict, Mapping[str, np.ndarray]], nn.Module], dtype: mx.Dtype = mx.float32,
               quantize: int | None = None, group_size: int = 64) -> Any:
    """Read the folder's checkpoint, `build(config, state)` the model, fill it; the model keeps its `source`."""
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = fill_model(build(config, state), state, keymap, config, source, dtype, quantize, group_size)
    model.source = folder
    return model


def from_pretrained_quietly(cls: Any, folder: str | Path, **kwargs: Any) -> Any:
    """`cls.from_pretrained(folder, dtype="float32", **kwargs)` in eval mode, without transformers' "Loading
    weights" progress bar (it would land in notebook outputs); the bar's setting is restored after."""
    from transformers.utils import logging

    bar = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        return cls.from_pretrained(folder, dtype="float32", **kwargs).eval()
    finally:
        if bar:
            logging.enable_progress_bar()


def capture_reference(model: Any, points: Iterable[TapPoint], run: Callable[[], Any]) -> tuple[dict, Any]:
    """`capture_torch` on the tap points' modules that the reference has (the rest are recorded by hand)."""
    from ...parity.torch_hooks import capture_torch

    modules = dict(model.named_modules())
    return capture_torch(model, [p.ref for p in points if p.ref in modules], run)
