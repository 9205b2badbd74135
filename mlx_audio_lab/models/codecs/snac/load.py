"""Build the MLX SNAC from a model folder: upstream (`config.json` + `pytorch_model.bin`), mlx-community
(`config.json` + `model.safetensors`) or the project's MLX layout."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.community import save_community
from ....convert.keymap import KeyMap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ..common import load_codec
from ..community import numpy_params
from .config import SnacConfig
from .convert import HF_KEYMAP, MLX_COMMUNITY, prepare, prepare_mlx_community, to_mlx_community
from .model import Snac


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description); the weight file names the layout."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    if (folder / "model.safetensors").is_file() and not (folder / "pytorch_model.bin").is_file():
        state, path = read_state_dict(folder, ("model.safetensors",))
        return prepare_mlx_community(state), config, MLX_COMMUNITY, f"{path} (mlx-community)"
    state, path = read_state_dict(folder, ("pytorch_model.bin",))
    return prepare(state), config, HF_KEYMAP, str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Snac:
    """A ready MLX SNAC from a folder. `quantize` applies to the attention's Linear layers (when present).

    `pytorch_model.bin` is read with `torch.load(weights_only=True)`: tensors only, no code unpickled.
    """
    return load_codec(folder, read_checkpoint, lambda config, _: Snac(SnacConfig.from_dict(config)), dtype,
                      quantize, group_size)


def export_mlx_community(model: Snac, folder: str | Path) -> Path:
    """Write `model` as mlx-community/snac_* folders are (read by mlx-audio's `SNAC.from_pretrained`)."""
    return save_community(folder, to_mlx_community(numpy_params(model)), asdict(model.config))
