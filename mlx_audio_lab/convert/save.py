"""The project's own MLX layout: `config.json` (upstream fields + a `mlx_audio_lab` block) and
`model.safetensors` in MLX parameter names, quantized or not."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from .keymap import KeyMap, Rule

LAYOUT_KEY = "mlx_audio_lab"
IDENTITY = KeyMap([Rule(r"(.+)", r"\1")], name="mlx")
SIDE_FILES = ("tokenizer.json", "preprocessor_config.json", "generation_config.json", "vocab.json")


def is_mlx_layout(config: dict) -> bool:
    """True for folders written by `save_model`."""
    return isinstance(config.get(LAYOUT_KEY), dict) and config[LAYOUT_KEY].get("layout") == "mlx"


def quantization_of(config: dict) -> dict | None:
    """{"bits", "group_size"} of a saved quantized model, else None."""
    return config.get(LAYOUT_KEY, {}).get("quantization") if is_mlx_layout(config) else None


def save_model(model: nn.Module, folder: Path) -> Path:
    """Write `model` (with `.config` a dataclass) to `folder` in the MLX layout; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = asdict(model.config) if is_dataclass(model.config) else dict(model.config)
    cfg[LAYOUT_KEY] = {"layout": "mlx", "version": 1, "quantization": getattr(model, "quantization", None)}
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    source = getattr(model, "source", None)
    for name in SIDE_FILES:
        if source is not None and (Path(source) / name).is_file() and Path(source) != folder:
            shutil.copy(Path(source) / name, folder / name)
    if callable(getattr(model, "save_extras", None)):  # a model's own side files (e.g. Kokoro's voices)
        model.save_extras(folder)
    return folder
