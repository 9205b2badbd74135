"""Build the MLX Kokoro from a folder in one of three layouts (`layout_of` tells which):

- "mlx": written by `convert.save.save_model` (`model.safetensors` in MLX names + `voices.safetensors`);
- "mlx-community": `kokoro-v1_0.safetensors` in hexgrad names and torch layouts + `voices/*.safetensors`
  (mlx-community/Kokoro-82M-bf16; `export.export_mlx_community` writes it);
- "hexgrad": `kokoro-v1_0.pth` + `voices/*.pt` (hexgrad/Kokoro-82M; also the converted int8 ONNX weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import KeyMap
from ....convert.loading import fill_model
from ....convert.readers import read_file, read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import KokoroConfig, is_kokoro_config
from .convert import COMMUNITY, COMMUNITY_FILE, HEXGRAD, OPTIONAL, prepare
from .model import Kokoro
from .voices import Voices


def weight_file(folder: Path) -> Path:
    """The hexgrad `.pth` of a folder (`kokoro-v1_0.pth` first, else the only `*.pth`)."""
    named = folder / "kokoro-v1_0.pth"
    if named.is_file():
        return named
    found = sorted(folder.glob("*.pth"))
    if not found:
        raise FileNotFoundError(f"{folder}: no kokoro-v1_0.pth (or other .pth) weight file")
    return found[0]


def community_file(folder: Path) -> Path | None:
    """The MLX-community weight file: `kokoro-v1_0.safetensors`, else the only top-level `*.safetensors`
    other than this project's `model.safetensors` / `voices.safetensors`; None when there is none."""
    if (folder / COMMUNITY_FILE).is_file():
        return folder / COMMUNITY_FILE
    found = [p for p in sorted(folder.glob("*.safetensors")) if p.name not in ("model.safetensors",
                                                                               "voices.safetensors")]
    return found[0] if len(found) == 1 else None


def layout_of(folder: Path, config: dict) -> str:
    """"mlx", "mlx-community" or "hexgrad" (safetensors before .pth when a folder holds both)."""
    if is_mlx_layout(config):
        return "mlx"
    if community_file(folder) is not None:
        return "mlx-community"
    if list(folder.glob("*.pth")):
        return "hexgrad"
    raise FileNotFoundError(f"{folder}: no Kokoro weights (model.safetensors with an mlx_audio_lab block, "
                            f"{COMMUNITY_FILE}, or kokoro-v1_0.pth)")


def read_checkpoint(folder: Path, config: dict) -> tuple[dict[str, np.ndarray], KeyMap, Path, str]:
    """(state ready for the key map, key map, weight file, layout): weight norm folded unless MLX layout."""
    layout = layout_of(folder, config)
    if layout == "mlx":
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, IDENTITY, path, layout
    path = community_file(folder) if layout == "mlx-community" else weight_file(folder)
    return prepare(read_file(path)), COMMUNITY if layout == "mlx-community" else HEXGRAD, path, layout


def load_model(folder: str | Path, voices: Voices | None = None, dtype: mx.Dtype = mx.float32,
               quantize: int | None = None, group_size: int = 64) -> Kokoro:
    """A ready MLX Kokoro with its voices attached (`model.voices`) and `generate(text, voice=...)`.

    `quantize` (4 or 8 bits) applies to ALBERT's and the style layers' Linear / Embedding weights."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if not is_kokoro_config(config):
        raise ValueError(f"{folder}/config.json is not a Kokoro config (no istftnet / plbert / vocab blocks)")
    model = Kokoro(KokoroConfig.from_dict(config))
    state, keymap, path, layout = read_checkpoint(folder, config)
    # InstanceNorm affines are optional in checkpoints (absent from the hexgrad .pth): they keep 1 / 0
    defaults = {k: np.array(v) for k, v in tree_flatten(model.parameters()) if OPTIONAL.match(k)}
    fill_model(model, state, keymap, config, path, dtype, quantize, group_size, optional=list(defaults),
               complete=lambda weights: {**defaults, **weights})
    model.voices = voices if voices is not None else Voices.from_folder(folder)
    model.source = folder
    model.layout = layout
    return model
