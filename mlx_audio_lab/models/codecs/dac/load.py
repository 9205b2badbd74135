"""Build the MLX DAC from a model folder: Hugging Face layout (descript/dac_*) or the project's MLX layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import DacConfig
from .convert import HF_KEYMAP, prepare_hf
from .model import Dac


def read_checkpoint(folder: Path, prepare: Callable = prepare_hf, keymap: KeyMap = HF_KEYMAP,
                    ) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    state, path = read_state_dict(folder)
    return prepare(state), config, keymap, str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Dac:
    """A ready MLX DAC from a folder (HF `config.json` + `model.safetensors`, or MLX layout).

    DAC has no Linear layers and its codebooks are 8 wide (less than a group), so `quantize` is only recorded.
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Dac(DacConfig.from_dict(config))
    model = fill_model(model, state, keymap, config, source, dtype, quantize, group_size)
    model.source = folder
    return model
