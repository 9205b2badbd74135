"""Build the MLX EnCodec from a model folder: Hugging Face layout or the project's MLX layout."""

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


def _cast(v: np.ndarray, dtype: mx.Dtype) -> mx.array:
    a = mx.array(v)
    return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Encodec:
    """A ready MLX EnCodec from a folder (HF `config.json` + `model.safetensors`, or MLX layout).

    EnCodec has no Linear or Embedding layers, so `quantize` leaves every weight in float (recorded only).
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Encodec(EncodecConfig.from_dict(config))
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = apply_keymap(state, keymap, expected, source=source)
    model.load_weights([(k, _cast(v, dtype)) for k, v in weights.items()], strict=True)
    saved_q = quantization_of(config)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    model.source = folder
    return model
