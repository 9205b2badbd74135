"""Build the MLX DeepFilterNet3 from a folder (`config.json` + `model.safetensors`, as onnx_weights writes)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import DeepFilterNetConfig
from .convert import KEYMAP
from .enhance import DeepFilterNet
from .model import DfNet


def load_config(folder: Path) -> DeepFilterNetConfig:
    """config.json (written at conversion) or the upstream config.ini."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        d = json.loads((folder / "config.json").read_text())
        return DeepFilterNetConfig(**{k: v for k, v in d.items() if k in DeepFilterNetConfig.__dataclass_fields__})
    return DeepFilterNetConfig.from_ini(folder / "config.ini")


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> DeepFilterNet:
    """A ready DeepFilterNet3 (networks + DSP) from a folder: converted from ONNX, or saved by `save_model`."""
    folder = Path(folder)
    config = load_config(folder)
    raw = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    state, path = read_state_dict(folder, ("model.safetensors",))
    keymap = IDENTITY if is_mlx_layout(raw) else KEYMAP  # the MLX layout holds MLX names and conv layouts
    net = fill_model(DfNet(config), state, keymap, raw or config.to_dict(), path, dtype, quantize, group_size)
    return DeepFilterNet(net, name=folder.name)
