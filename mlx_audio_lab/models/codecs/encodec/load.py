"""Build the MLX EnCodec from a model folder: Hugging Face, mlx-community or the project's MLX layout."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.community import copy_side_files, save_community
from ....convert.keymap import KeyMap, apply_keymap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ..common import load_codec
from ..community import numpy_params
from .config import EncodecConfig
from .convert import (
    MLX_COMMUNITY,
    TO_MLX_COMMUNITY,
    hf_keymap,
    is_mlx_community,
    merge_lstm_bias,
    prepare_hf,
    split_lstm_bias,
)
from .model import Encodec


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description) for a folder.

    HF and mlx-community folders both hold `config.json` + `model.safetensors`; the community file is told
    apart by its LSTM weights (`lstm.N.Wx`).
    """
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    state, path = read_state_dict(folder)
    if is_mlx_community(state):
        return split_lstm_bias(state), config, MLX_COMMUNITY, f"{path} (mlx-community)"
    return prepare_hf(state), config, hf_keymap(EncodecConfig.from_dict(config)), str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Encodec:
    """A ready MLX EnCodec from a folder (HF or mlx-community `config.json` + `model.safetensors`, or MLX layout).

    EnCodec has no Linear or Embedding layers, so `quantize` leaves every weight in float (recorded only).
    """
    return load_codec(folder, read_checkpoint, lambda config, _: Encodec(EncodecConfig.from_dict(config)), dtype,
                      quantize, group_size)


def export_mlx_community(model: Encodec, folder: str | Path) -> Path:
    """Write `model` as mlx-community/encodec-* folders are (what mlx-audio's `Encodec.from_pretrained` reads)."""
    weights = apply_keymap(merge_lstm_bias(numpy_params(model)), TO_MLX_COMMUNITY, source="MLX EnCodec")
    folder = save_community(folder, weights, asdict(model.config))
    copy_side_files(getattr(model, "source", None), folder, ("preprocessor_config.json",))
    return folder
