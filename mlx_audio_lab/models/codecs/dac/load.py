"""Build the MLX DAC from a model folder: Hugging Face layout (descript/dac_*) or the project's MLX layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import KeyMap, apply_keymap
from ....convert.quantize import quantize_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout, quantization_of
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


def load_weights(model: nn.Module, folder: Path, state: dict[str, np.ndarray], config: dict, keymap: KeyMap,
                 source: str, dtype: mx.Dtype, quantize: int | None, group_size: int) -> nn.Module:
    """Map, check and load `state` into `model`; quantize on request; eval mode (shared with SNAC)."""
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = apply_keymap(state, keymap, expected, source=source)
    model.load_weights([(k, mx.array(v).astype(dtype)) for k, v in weights.items()], strict=True)
    saved_q = quantization_of(config)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    model.source = folder
    return model


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Dac:
    """A ready MLX DAC from a folder (HF `config.json` + `model.safetensors`, or MLX layout).

    DAC has no Linear layers and its codebooks are 8 wide (less than a group), so `quantize` is only recorded.
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Dac(DacConfig.from_dict(config))
    return load_weights(model, folder, state, config, keymap, source, dtype, quantize, group_size)
