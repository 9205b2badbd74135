"""What the codec ports' loaders share: building a model from a folder (the reference side's helpers are in
`codecs/reference.py`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ...convert.keymap import KeyMap
from ...convert.loading import fill_model

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


def write_codec_folder(out: str | Path, codec_config: dict, architecture: str,
                       weights: Mapping[str, np.ndarray]) -> Path:
    """A codec carried inside another model's checkpoint, written as its own transformers-layout folder
    (`config.json` naming `architecture`, `model.safetensors`), so `mlx-audio-lab decode --model` reads it."""
    import json

    from safetensors.numpy import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"architectures": [architecture], **codec_config}, indent=2))
    save_file(dict(weights), str(out / "model.safetensors"), metadata={"format": "pt"})
    return out
