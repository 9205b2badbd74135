"""Build the MLX Chatterbox parts from a folder in the upstream layout (`s3gen.safetensors`, ...)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from .config import HiFTConfig
from .convert import S3GEN_KEYMAP, T3_KEYMAP, VE_KEYMAP, prepare
from .flow import FlowConfig
from .s3gen import S3Gen
from .t3 import T3, T3Config
from .voice_encoder import VoiceEncoder


def read_s3gen(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    """`s3gen.safetensors` with weight norm folded, and its path."""
    state, path = read_state_dict(Path(folder), ("s3gen.safetensors",))
    return prepare(state), str(path)


def load_s3gen(folder: str | Path, dtype: mx.Dtype = mx.float32) -> S3Gen:
    """S3Gen with every weight of `s3gen.safetensors` placed (and every parameter filled), sizes read off them."""
    state, source = read_s3gen(Path(folder))
    model = S3Gen(HiFTConfig.from_state(state), FlowConfig.from_state(state))
    return fill_model(model, state, S3GEN_KEYMAP, {}, source, dtype)


def load_t3(folder: str | Path, dtype: mx.Dtype = mx.float32) -> T3:
    """T3 from `t3_cfg.safetensors`, sizes read off the weights, every weight placed."""
    state, path = read_state_dict(Path(folder), ("t3_cfg.safetensors",))
    return fill_model(T3(T3Config.from_state(state)), state, T3_KEYMAP, {}, str(path), dtype)


def load_voice_encoder(folder: str | Path, dtype: mx.Dtype = mx.float32) -> VoiceEncoder:
    """The VoiceEncoder from `ve.safetensors`."""
    state, path = read_state_dict(Path(folder), ("ve.safetensors",))
    return fill_model(VoiceEncoder(), state, VE_KEYMAP, {}, str(path), dtype)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, **_: object) -> S3Gen:
    """The ported part of the pipeline: S3Gen (speech tokens -> 24 kHz audio)."""
    return load_s3gen(folder, dtype)
