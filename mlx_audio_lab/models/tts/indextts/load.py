"""Build the MLX IndexTTS GPT stage from an upstream checkpoint folder (config.yaml + gpt.pth) or from the
project's MLX layout (config.json + model.safetensors, written by `mlx-audio-lab convert`)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_file
from ....convert.save import IDENTITY, is_mlx_layout
from .config import IndexTTSConfig
from .config_file import read_yaml
from .convert import KEYMAP
from .model import IndexTTS


def read_config(folder: str | Path) -> IndexTTSConfig:
    """The `gpt:` section of config.yaml."""
    return IndexTTSConfig.from_dict(read_yaml(folder))


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> IndexTTS:
    """A ready MLX IndexTTS GPT stage (fp32 by default; `quantize` 4 / 8 bits on request)."""
    folder = Path(folder)
    raw = read_yaml(folder)
    mlx = is_mlx_layout(raw)
    path = folder / ("model.safetensors" if mlx else raw.get("gpt_checkpoint", "gpt.pth"))
    state = read_file(path)
    state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items()}
    model = fill_model(IndexTTS(IndexTTSConfig.from_dict(raw)), state, IDENTITY if mlx else KEYMAP, raw, path, dtype,
                       quantize, group_size)
    model.source = folder
    return model
