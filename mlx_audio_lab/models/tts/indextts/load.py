"""Build the MLX IndexTTS GPT stage from an upstream checkpoint folder (config.yaml + gpt.pth)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_file
from .config import IndexTTSConfig
from .convert import KEYMAP
from .model import IndexTTS


def read_yaml(folder: str | Path) -> dict:
    import yaml

    return yaml.safe_load((Path(folder) / "config.yaml").read_text())


def read_config(folder: str | Path) -> IndexTTSConfig:
    """The `gpt:` section of config.yaml."""
    return IndexTTSConfig.from_dict(read_yaml(folder))


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32) -> IndexTTS:
    """A ready MLX IndexTTS GPT stage (fp32 by default)."""
    folder = Path(folder)
    raw = read_yaml(folder)
    path = folder / raw.get("gpt_checkpoint", "gpt.pth")
    state = read_file(path)
    state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items()}
    model = fill_model(IndexTTS(IndexTTSConfig.from_dict(raw)), state, KEYMAP, raw, path, dtype)
    model.source = folder
    return model
