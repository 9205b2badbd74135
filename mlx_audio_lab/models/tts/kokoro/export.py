"""Write a Kokoro in the MLX community layout (`mlx-community/Kokoro-82M-bf16`, what mlx-audio loads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from mlx.utils import tree_flatten

from .convert import COMMUNITY_FILE, to_torch_layout


def export_mlx_community(model, folder: str | Path) -> Path:
    """`config.json`, `kokoro-v1_0.safetensors` (hexgrad names and torch layouts, float32) and
    `voices/<name>.safetensors`; `load_model` and mlx-audio's `load` both read the folder back."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = to_torch_layout({k: np.array(v) for k, v in tree_flatten(model.parameters())})
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(folder / COMMUNITY_FILE))
    (folder / "config.json").write_text(json.dumps(model.config.to_hexgrad(), ensure_ascii=False, indent=2))
    if getattr(model, "voices", None) is not None:
        model.voices.save_files(folder)
    return folder
