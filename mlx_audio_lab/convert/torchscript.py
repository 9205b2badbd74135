"""Read the tensors of a TorchScript archive (`torch.jit.save`'s zip) without torch and without running its code.

The archive's `data.pkl` pickles the module tree: `__torch__.*` classes built from a state dict, tensors as
`torch._utils._rebuild_tensor_v2` over storages kept as raw little-endian files `data/<key>`. A restricted
unpickler resolves only those few globals (module classes become plain attribute holders, tensors become numpy
arrays); any other global is refused, so no code from the archive is imported or run. The TorchScript code
(`code/`) is never read.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .readers import UnsafeCheckpointError

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class ScriptObject:
    """A `__torch__.*` module or object from the archive: its pickled state, nothing else."""

    def __init__(self, *_: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"__state__": state}


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    """A numpy view of `storage` with torch's offset, size and strides (in elements), copied contiguous."""
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * item for s in stride))
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    """Only module classes, tensor rebuilding, storages and plain containers; everything else is refused."""

    def __init__(self, file: io.BytesIO, archive: zipfile.ZipFile, root: str):
        super().__init__(file)
        self.archive, self.root = archive, root

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return type(name, (ScriptObject,), {})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        if (module, name) == ("torch.jit._pickle", "build_intlist"):
            return list
        raise UnsafeCheckpointError(f"TorchScript archive asks for {module}.{name}; refusing to load code")

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or storage_type not in _STORAGE_DTYPES:
            raise UnsafeCheckpointError(f"unexpected persistent id {pid!r} in a TorchScript archive")
        raw = self.archive.read(f"{self.root}/data/{key}")
        return np.frombuffer(raw, dtype=_STORAGE_DTYPES[storage_type], count=int(numel)).copy()


def read_script_module(path: str | Path) -> ScriptObject:
    """The root module of a TorchScript archive, as nested `ScriptObject`s holding numpy tensors."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError(f"{path}: not a TorchScript archive (no <root>/data.pkl)")
        root = pkl[0].split("/")[0]
        byteorder = f"{root}/byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ValueError(f"{path}: big-endian TorchScript archives are not supported")
        return _Unpickler(io.BytesIO(archive.read(pkl[0])), archive, root).load()


def script_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a TorchScript archive by its dotted module path (as `state_dict()` would name it,
    plus the modules' tensor attributes such as carried state)."""
    out: dict[str, np.ndarray] = {}

    def walk(obj: Any, prefix: str) -> None:
        for key, value in obj.state.items():
            if isinstance(value, ScriptObject):
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, np.ndarray):
                out[f"{prefix}{key}"] = value

    walk(read_script_module(path), "")
    return out
