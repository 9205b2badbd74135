"""Build the MLX BigVGAN from a model folder: upstream (`config.json` + `bigvgan_generator.pt`, or a
safetensors file of the same state dict) or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ..common import load_codec
from .config import BigVGANConfig
from .convert import HF_KEYMAP, prepare
from .model import BigVGAN

UPSTREAM_FILES = ("bigvgan_generator.safetensors", "model.safetensors", "bigvgan_generator.pt")


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description); safetensors before the pickle."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    state, path = read_state_dict(folder, UPSTREAM_FILES)
    return prepare(state), config, HF_KEYMAP, str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> BigVGAN:
    """A ready MLX BigVGAN from a folder (`quantize` is accepted for the common signature: it has no Linear).

    `bigvgan_generator.pt` is read with `torch.load(weights_only=True)`: tensors only, no code unpickled.
    """
    return load_codec(folder, read_checkpoint, lambda config, _: BigVGAN(BigVGANConfig.from_dict(config)), dtype,
                      quantize, group_size)
