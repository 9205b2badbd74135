"""Build the MLX Silero VAD from a folder: `config.json` + `silero_vad_16k.safetensors` and/or `silero_vad.jit`."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.loading import fill_model
from ....convert.readers import read_safetensors
from ....convert.save import IDENTITY, is_mlx_layout
from ....convert.torchscript import script_state_dict
from .config import SileroConfig
from .convert import KEYMAP, SAFETENSORS_16K, TORCHSCRIPT
from .model import SileroVAD


def weight_files(folder: Path, raw: dict, config: SileroConfig) -> dict[int, str]:
    """Which file each branch comes from: `config.json`'s `weights` ({rate: file}) when given, else the
    safetensors file for 16 kHz when present and the TorchScript archive for the rest."""
    given = {int(r): f for r, f in (raw.get("weights") or {}).items()}
    has_st = (folder / SAFETENSORS_16K).is_file()
    return {r: given.get(r, SAFETENSORS_16K if r == 16000 and has_st else TORCHSCRIPT) for r in config.sample_rates}


def read_checkpoint(folder: Path, files: dict[int, str]) -> tuple[dict[str, np.ndarray], str]:
    """The tensors of every branch from its file: safetensors as is; from the TorchScript archive only the
    branch's tensors (`_model.*` / `_model_8k.*`), read by a restricted unpickler that runs no code."""
    state: dict[str, np.ndarray] = {}
    for rate, name in files.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: the {rate} Hz branch needs {name}")
        if name.endswith(".safetensors"):
            if rate != 16000:
                raise ValueError(f"{path}: the safetensors layout holds the 16 kHz branch only")
            state.update(read_safetensors(path))
        else:
            prefix = "_model." if rate == 16000 else "_model_8k."
            state.update({k: v for k, v in script_state_dict(path).items() if k.startswith(prefix)})
    return state, f"{folder} ({', '.join(f'{r} Hz: {n}' for r, n in files.items())})"


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32) -> SileroVAD:
    """A ready MLX Silero VAD (float32 by default: the model is 0.3 M parameters), from the upstream files or
    the project's MLX layout (`model.safetensors` in MLX names)."""
    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    config = SileroConfig.from_dict(raw)
    if is_mlx_layout(raw):
        state, keymap = read_safetensors(folder / "model.safetensors"), IDENTITY
        model_files = {r: "model.safetensors" for r in config.sample_rates}
        source = f"{folder} (MLX layout)"
    else:
        model_files, keymap = weight_files(folder, raw, config), KEYMAP
        state, source = read_checkpoint(folder, model_files)
    model = fill_model(SileroVAD(config), state, keymap, raw, source, dtype)
    model.source, model.weight_files = folder, model_files
    return model
