"""Build the MLX Mimi from a model folder: Hugging Face layout (kyutai/mimi) or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import MimiConfig
from .convert import hf_keymap, prepare_hf
from .model import Mimi


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    cfg = MimiConfig.from_dict(config)
    state, path = read_state_dict(folder)
    return prepare_hf(state, cfg), config, hf_keymap(cfg), str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Mimi:
    """A ready MLX Mimi from a folder (HF `config.json` + `model.safetensors`, or MLX layout).

    `quantize` (bits) quantizes the transformers' Linear layers; convs and codebooks stay float.
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Mimi(MimiConfig.from_dict(config))
    model = fill_model(model, state, keymap, config, source, dtype, quantize, group_size)
    model.source = folder
    return model
