"""Build the MLX EnCodec from a model folder: Hugging Face layout or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import EncodecConfig
from .convert import hf_keymap, prepare_hf
from .model import Encodec


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    state, path = read_state_dict(folder)
    return prepare_hf(state), config, hf_keymap(EncodecConfig.from_dict(config)), str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Encodec:
    """A ready MLX EnCodec from a folder (HF `config.json` + `model.safetensors`, or MLX layout).

    EnCodec has no Linear or Embedding layers, so `quantize` leaves every weight in float (recorded only).
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Encodec(EncodecConfig.from_dict(config))
    model = fill_model(model, state, keymap, config, source, dtype, quantize, group_size)
    model.source = folder
    return model
