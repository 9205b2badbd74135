"""Read checkpoint files into name -> numpy array dicts, safetensors first, never unpickling code."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import WeightsError

# Preference order when a folder holds several formats.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "weights.safetensors",
    "weights.npz",
    "pytorch_model.bin",
)


class UnsafeCheckpointError(WeightsError):
    """A file that would need arbitrary unpickling, or a pickle where safetensors was expected."""


def _sniff(path: Path) -> str:
    """'safetensors' (8-byte header length, then a JSON object), 'zip', 'pickle' or 'unknown'."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    if head[:2] == b"PK":
        return "zip"  # torch.save zip archive (a pickle inside) or npz
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file (bf16 is widened to float32, numpy has no bfloat16)."""
    kind = _sniff(path)
    if kind in {"zip", "pickle"}:
        raise UnsafeCheckpointError(
            f"{path} is a PyTorch pickle ({kind}), not safetensors; refusing to unpickle it. "
            "Re-save it with safetensors.torch.save_file."
        )
    try:
        from safetensors.numpy import load_file

        return load_file(str(path))
    except Exception as e:  # safetensors raises SafetensorError / TypeError / ValueError ...
        if "bfloat16" in str(e):
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="pt") as f:  # needs torch only for bf16 files
                    return {k: f.get_tensor(k).float().numpy() for k in f.keys()}
            except Exception as err:  # noqa: BLE001  (any failure here is the file's)
                raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err
        raise WeightsError(f"{path}: not a readable safetensors file ({e}); re-download or re-convert it") from e


def read_torch(path: Path) -> dict[str, np.ndarray]:
    """Read a PyTorch checkpoint with `weights_only=True` (tensors and plain containers only)."""
    return read_torch_checkpoint(path)[0]


def read_torch_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, the plain values beside them, e.g. a training script's `model_args.n_layer`), names flattened with
    dots; read with `weights_only=True`."""
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"{path} holds objects other than tensors; refusing to unpickle untrusted code ({e})"
        ) from e
    except (RuntimeError, EOFError, ValueError, OSError) as e:  # truncated / corrupt zip or pickle stream
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    flat = _flatten(obj)
    tensors = {k: v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
               for k, v in flat.items() if isinstance(v, torch.Tensor)}  # not weights: epochs, names ...
    return tensors, {k: v for k, v in flat.items() if not isinstance(v, torch.Tensor)}


def _flatten(obj: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read an .npz of arrays without allowing pickled objects."""
    try:
        with np.load(str(path), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{path}: not a readable .npz of arrays ({type(e).__name__}: {e})") from e


def read_file(path: Path) -> dict[str, np.ndarray]:
    """Read one weight file by its extension."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    if path.name.endswith(".index.json"):
        try:
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise WeightsError(f"{path}: not a safetensors index (a JSON object with a 'weight_map')") from e
        out: dict[str, np.ndarray] = {}
        for shard in shards:
            out.update(read_safetensors(path.parent / shard))
        return out
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix == ".npz":
        return read_npz(path)
    if path.suffix in {".bin", ".pt", ".pth"}:
        if path.name == "model.bin" and (path.parent / "vocabulary.txt").exists() or _sniff(path) == "unknown":
            from .ctranslate2 import read_ctranslate2

            return read_ctranslate2(path)
        return read_torch(path)
    raise WeightsError(f"{path}: unknown weight file type (expected .safetensors, .npz, .bin, .pt, .pth)")


def read_state_dict(folder: Path, names: tuple[str, ...] = WEIGHT_FILES) -> tuple[dict[str, np.ndarray], Path]:
    """Read the preferred weight file of a model folder; returns (state, file read)."""
    folder = Path(folder)
    for name in names:
        p = folder / name
        if p.is_file():
            return read_file(p), p
    raise FileNotFoundError(f"{folder}: no weight file (looked for {', '.join(names)})")
