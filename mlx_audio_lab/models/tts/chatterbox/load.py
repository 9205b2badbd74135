"""Build the MLX Chatterbox parts from a folder in the upstream layout (`s3gen.safetensors`, ...)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from .config import HiFTConfig
from .convert import S3GEN_KEYMAP, prepare
from .flow import FlowConfig
from .s3gen import S3Gen


def read_s3gen(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    """`s3gen.safetensors` with weight norm folded, and its path."""
    state, path = read_state_dict(Path(folder), ("s3gen.safetensors",))
    return prepare(state), str(path)


def load_s3gen(folder: str | Path, dtype: mx.Dtype = mx.float32) -> S3Gen:
    """S3Gen with every weight of `s3gen.safetensors` placed (and every parameter filled), sizes read off them."""
    state, source = read_s3gen(Path(folder))
    model = S3Gen(HiFTConfig.from_state(state), FlowConfig.from_state(state))
    return fill_model(model, state, S3GEN_KEYMAP, {}, source, dtype)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, **_: object) -> S3Gen:
    """The ported part of the pipeline: S3Gen (speech tokens -> 24 kHz audio)."""
    return load_s3gen(folder, dtype)
