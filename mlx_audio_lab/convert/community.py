"""MLX community folders, as `mlx-audio`'s converter writes them: `model.safetensors` (or shards with an
index, metadata `format: mlx`) and `config.json`, with a `quantization` block ({group_size, bits, mode})
when some layers are stored quantized (those layers carry `.scales` and `.biases` beside `.weight`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .keymap import KeyMap
from .loading import fill_model
from .save import SIDE_FILES

WEIGHTS = "model.safetensors"


def community_quantization(config: dict) -> dict | None:
    """{"bits", "group_size"} of a quantized community folder, else None; only affine mode is supported."""
    q = config.get("quantization") or config.get("quantization_config")
    if not isinstance(q, dict) or "bits" not in q:
        return None
    mode = q.get("mode", "affine")
    if mode != "affine":
        raise ValueError(f"quantization mode {mode!r} is not supported (only 'affine' group quantization)")
    return {"bits": int(q["bits"]), "group_size": int(q.get("group_size", 64))}


def is_mlx_safetensors(path: Path) -> bool:
    """True when a safetensors file was written by MLX (metadata `format: mlx`)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return (f.metadata() or {}).get("format") == "mlx"


def quantize_as_saved(model: nn.Module, keys: Iterable[str], bits: int, group_size: int) -> None:
    """Quantize exactly the layers whose (MLX-named) weights arrive with `.scales`."""
    scaled = {k[: -len(".scales")] for k in keys if k.endswith(".scales")}
    nn.quantize(model, group_size=group_size, bits=bits, class_predicate=lambda path, _: path in scaled)


def fill_community_model(
    model: nn.Module,
    state: Mapping[str, np.ndarray],
    keymap: KeyMap,
    config: dict,
    source: str | Path,
    dtype: mx.Dtype = mx.float32,
    quantize: int | None = None,
    group_size: int = 64,
    optional: Iterable[str] = (),
    complete: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> nn.Module:
    """`fill_model` for a community folder: a stored quantization is reproduced layer by layer first."""
    saved = community_quantization(config)
    if saved is None:
        return fill_model(model, state, keymap, config, source, dtype, quantize, group_size, optional, complete)
    targets = [hit[0] for hit in map(keymap.map_key, state) if hit is not None and hit[0] is not None]
    quantize_as_saved(model, targets, saved["bits"], saved["group_size"])
    model = fill_model(model, state, keymap, config, source, dtype, None, group_size, optional, complete)
    model.quantization = saved
    return model


def dequantize_params(params: Mapping[str, np.ndarray], which: Callable[[str], bool], bits: int,
                      group_size: int) -> dict[str, np.ndarray]:
    """`params` with the quantized layers that `which(layer path)` selects turned back into float weights."""
    out = dict(params)
    for key in params:
        layer = key[: -len(".scales")]
        if key.endswith(".scales") and which(layer):
            w = mx.dequantize(mx.array(params[f"{layer}.weight"]), mx.array(params[key]),
                              mx.array(params[f"{layer}.biases"]), group_size, bits)
            out[f"{layer}.weight"] = np.array(w)
            del out[key], out[f"{layer}.biases"]
    return out


def save_community(folder: str | Path, weights: Mapping[str, np.ndarray | mx.array], config: dict,
                   quantization: dict | None = None) -> Path:
    """Write `model.safetensors` (format mlx) and `config.json` (+ `quantization` when given) to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / WEIGHTS), {k: mx.array(v) for k, v in weights.items()},
                        metadata={"format": "mlx"})
    config = dict(config)
    if quantization:
        q = {"group_size": quantization["group_size"], "bits": quantization["bits"], "mode": "affine"}
        config["quantization"] = config["quantization_config"] = q
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def copy_side_files(source: str | Path | None, folder: Path, names: Iterable[str] = SIDE_FILES) -> None:
    """Copy the tokenizer / preprocessor files of the model's source folder next to exported weights."""
    if source is None or Path(source).resolve() == Path(folder).resolve():
        return
    for name in names:
        if (Path(source) / name).is_file():
            shutil.copy(Path(source) / name, Path(folder) / name)
