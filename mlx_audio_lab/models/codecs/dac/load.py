"""Build the MLX DAC from a model folder: Hugging Face (descript/dac_*), mlx-community or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.community import save_community
from ....convert.keymap import KeyMap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ..common import load_codec
from ..community import numpy_params
from .config import DacConfig
from .convert import (
    HF_KEYMAP,
    community_config,
    config_from_community,
    is_community_config,
    mlx_community_keymap,
    prepare_hf,
    prepare_mlx_community,
    to_mlx_community,
)
from .model import Dac


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict in transformers' fields, key map, description).

    An mlx-community folder is told apart by its config (the DAC constructor's `encoder_dim`, ...).
    """
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    if is_community_config(config):
        hf = config_from_community(config)
        state, path = read_state_dict(folder, ("model.safetensors",))
        keymap = mlx_community_keymap(DacConfig.from_dict(hf))
        return prepare_mlx_community(state), hf, keymap, f"{path} (mlx-community)"
    state, path = read_state_dict(folder)
    return prepare_hf(state), config, HF_KEYMAP, str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Dac:
    """A ready MLX DAC from a folder (HF or mlx-community `config.json` + `model.safetensors`, or MLX layout).

    DAC has no Linear layers and its codebooks are 8 wide (less than a group), so `quantize` is only recorded.
    """
    return load_codec(folder, read_checkpoint, lambda config, _: Dac(DacConfig.from_dict(config)), dtype, quantize,
                      group_size)


def export_mlx_community(model: Dac, folder: str | Path) -> Path:
    """Write `model` as mlx-community/descript-audio-codec-* folders are (read by mlx-audio's `DAC.from_pretrained`)."""
    weights = to_mlx_community(numpy_params(model), model.config)
    return save_community(folder, weights, community_config(model.config))
