"""Build the MLX S3 tokenizer from a folder: `speech_tokenizer_v2_25hz.pt` (the `s3tokenizer` state dict),
Chatterbox's `s3gen.safetensors` / `s3gen.pt` (its `tokenizer.*` part), or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ..common import load_codec
from .config import S3TokenizerConfig
from .convert import UPSTREAM_KEYMAP, from_chatterbox
from .model import S3TokenizerV2

WEIGHTS = "speech_tokenizer_v2_25hz.pt"
CHATTERBOX_WEIGHTS = ("s3gen.safetensors", "s3gen.pt")


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict for the key map, config dict, key map, description); no config.json means the real sizes."""
    path = folder / "config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    if not (folder / WEIGHTS).is_file() and any((folder / n).is_file() for n in CHATTERBOX_WEIGHTS):
        state, path = read_state_dict(folder, CHATTERBOX_WEIGHTS)
        return from_chatterbox(state), config, UPSTREAM_KEYMAP, f"{path} (Chatterbox, tokenizer.*)"
    state, path = read_state_dict(folder, (WEIGHTS,))
    return state, config, UPSTREAM_KEYMAP, str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> S3TokenizerV2:
    """A ready MLX S3TokenizerV2 from a folder (`.pt` files are read with `torch.load(weights_only=True)`)."""
    return load_codec(folder, read_checkpoint, lambda config, _: S3TokenizerV2(S3TokenizerConfig.from_dict(config)),
                      dtype, quantize, group_size)
