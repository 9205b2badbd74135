"""Build the MLX Mimi from a model folder: Hugging Face layout (kyutai/mimi) or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import KeyMap, apply_keymap
from ....convert.quantize import quantize_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout, quantization_of
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


def _cast(v: np.ndarray, dtype: mx.Dtype) -> mx.array:
    a = mx.array(v)
    return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Mimi:
    """A ready MLX Mimi from a folder (HF `config.json` + `model.safetensors`, or MLX layout).

    `quantize` (bits) quantizes the transformers' Linear layers; convs and codebooks stay float.
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Mimi(MimiConfig.from_dict(config))
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    saved_q = quantization_of(config)
    if saved_q:  # a quantized MLX folder: quantize the empty model first, so the shapes agree
        quantize_model(model, bits=saved_q["bits"], group_size=saved_q["group_size"])
        expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = apply_keymap(state, keymap, expected, source=source)
    model.load_weights([(k, _cast(v, dtype)) for k, v in weights.items()], strict=True)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    model.source = folder
    return model
