"""Build the MLX Kokoro from a folder: hexgrad (`config.json` + `kokoro-v1_0.pth` + `voices/*.pt`) or MLX."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import apply_keymap
from ....convert.readers import read_file, read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import KokoroConfig, is_kokoro_config
from .convert import HEXGRAD, OPTIONAL, prepare
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


def load_weights(model: Kokoro, state: dict[str, np.ndarray], source: str, mlx_layout: bool = False) -> None:
    """Map, check and load a state dict into `model` (InstanceNorm affines default to 1 / 0)."""
    params = dict(tree_flatten(model.parameters()))
    expected = {k: tuple(v.shape) for k, v in params.items()}
    optional = [k for k in expected if OPTIONAL.match(k)]
    if mlx_layout:
        weights = apply_keymap(state, IDENTITY, expected, source=source, optional=optional)
    else:
        weights = apply_keymap(prepare(state), HEXGRAD, expected, source=source, optional=optional)
    for k in optional:
        weights.setdefault(k, np.array(params[k]))
    model.load_weights([(k, mx.array(np.asarray(v, dtype=np.float32))) for k, v in weights.items()], strict=True)
    mx.eval(model.parameters())


def load_model(folder: str | Path, voices: Voices | None = None) -> Kokoro:
    """A ready MLX Kokoro with its voices attached (`model.voices`) and `generate(text, voice=...)`."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if not is_kokoro_config(config):
        raise ValueError(f"{folder}/config.json is not a Kokoro config (no istftnet / plbert / vocab blocks)")
    model = Kokoro(KokoroConfig.from_dict(config))
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        load_weights(model, state, str(path), mlx_layout=True)
    else:
        path = weight_file(folder)
        load_weights(model, read_file(path), str(path))
    model.eval()
    model.voices = voices if voices is not None else Voices.from_folder(folder)
    model.source = folder
    return model
