"""Read CTranslate2 `model.bin` files (the binary layout of `ctranslate2.specs.ModelSpec`) into numpy arrays.

Layout, all little-endian; a string is a uint16 byte count (NUL included), the UTF-8 bytes, a NUL:
    uint32 binary_version                      (1 ... 6)
    string spec_name, uint32 spec_revision     (version >= 2; else "" and revision 1)
    uint32 num_variables, then per variable:
        string name, uint8 rank, uint32 dims[rank],
        version >= 4: uint8 dtype_id, uint32 num_bytes   (ids: see DTYPES)
        version <= 3: uint8 item_size, uint32 num_elements (dtype guessed from the width)
        num_bytes of raw row-major data
    uint32 num_aliases, then per alias: string alias, string variable_name   (version >= 3)

Quantized models keep their integers: an int8 `X/weight` comes with a float32 per-row `X/weight_scale`, and
`weight = int8 / scale[:, None]`; int16 weights use one scalar scale the same way. `dequantize` applies it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import WeightsError

MAX_BINARY_VERSION = 6
# The DataType enum of CTranslate2's include/ctranslate2/types.h: id -> (name, stored numpy dtype).
DTYPES: dict[int, tuple[str, str]] = {
    0: ("float32", "<f4"),
    1: ("int8", "i1"),
    2: ("int16", "<i2"),
    3: ("int32", "<i4"),
    4: ("float16", "<f2"),
    5: ("bfloat16", "<u2"),  # numpy has no bfloat16: read as uint16 bits, widened to float32
}
LEGACY_ITEM_SIZES = {4: 0, 2: 2, 1: 1}  # binary version <= 3 stored an item width, not a dtype id
MAX_RANK = 8
MAX_NAME = 4096


class CTranslate2FormatError(WeightsError):
    """Not a readable CTranslate2 model: the message names the file, the byte offset and what was expected."""


@dataclass
class CT2Model:
    """A parsed model.bin: header fields, variables (native dtypes, bf16 widened) and aliases."""

    path: Path
    binary_version: int
    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    dtype_names: dict[str, str] = field(default_factory=dict)

    def resolved(self) -> dict[str, np.ndarray]:
        """The variables plus one entry per alias (sharing the target array)."""
        return {**self.variables, **{a: self.variables[t] for a, t in self.aliases.items()}}


class _Cursor:
    """Bounds-checked little-endian reads over a bytes buffer; errors carry file, offset and context."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def fail(self, message: str, at: int | None = None) -> CTranslate2FormatError:
        at = self.pos if at is None else at
        return CTranslate2FormatError(f"{self.path}: not a valid CTranslate2 model.bin: {message} "
                                      f"(at byte {at})")

    def take(self, n: int, what: str) -> bytes:
        left = len(self.data) - self.pos
        if n > left:
            raise CTranslate2FormatError(
                f"{self.path}: truncated at byte {self.pos} while reading {what} "
                f"(needed {n} bytes, {left} left; file size {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        start = self.pos
        n = self.uint("H", f"the length of {what}")
        if n == 0 or n > MAX_NAME:
            raise self.fail(f"{what} has length {n}; expected 1..{MAX_NAME} bytes including a NUL", start)
        raw = self.take(n, what)
        if raw[-1:] != b"\0":
            raise self.fail(f"{what} does not end with a NUL byte", start)
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"{what} is not UTF-8 ({e})", start) from None


def _read_variable(cur: _Cursor, version: int, index: int) -> tuple[str, np.ndarray, str]:
    name = cur.string(f"the name of variable #{index}")
    what = f"variable {name!r}"
    rank = cur.uint("B", f"the rank of {what}")
    if rank > MAX_RANK:
        raise cur.fail(f"{what} has rank {rank}; expected at most {MAX_RANK}", cur.pos - 1)
    shape = tuple(cur.uint("I", f"dimension {i} of {what}") for i in range(rank))
    at = cur.pos
    if version >= 4:
        dtype_id = cur.uint("B", f"the dtype of {what}")
        if dtype_id not in DTYPES:
            raise cur.fail(f"{what} has dtype id {dtype_id}; expected one of {sorted(DTYPES)}", at)
        num_bytes = cur.uint("I", f"the byte count of {what}")
    else:
        width = cur.uint("B", f"the item size of {what}")
        if width not in LEGACY_ITEM_SIZES:
            raise cur.fail(f"{what} has item size {width}; expected one of {sorted(LEGACY_ITEM_SIZES)}", at)
        dtype_id = LEGACY_ITEM_SIZES[width]
        num_bytes = cur.uint("I", f"the element count of {what}") * width
    dname, npdtype = DTYPES[dtype_id]
    want = math.prod(shape) * np.dtype(npdtype).itemsize
    if num_bytes != want:
        raise cur.fail(f"{what} ({dname}, shape {shape}) declares {num_bytes} bytes; expected {want}", at)
    raw = cur.take(num_bytes, what)
    arr = np.frombuffer(raw, dtype=npdtype).reshape(shape).copy()
    if dname == "bfloat16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return name, arr, dname


def read_ctranslate2_model(path: str | Path) -> CT2Model:
    """Parse a CTranslate2 model.bin completely; raise CTranslate2FormatError on anything unexpected."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    cur = _Cursor(path.read_bytes(), path)
    version = cur.uint("I", "the binary version (uint32)")
    if not 1 <= version <= MAX_BINARY_VERSION:
        raise cur.fail(f"binary version {version} (bytes {cur.data[:4].hex()}); "
                       f"expected 1..{MAX_BINARY_VERSION}", 0)
    spec, revision = "", 1
    if version >= 2:
        spec = cur.string("the spec name")
        if not spec.isidentifier():
            raise cur.fail(f"spec name {spec[:40]!r} is not an identifier such as 'WhisperSpec'", 4)
        revision = cur.uint("I", "the spec revision")
    count = cur.uint("I", "the number of variables")
    variables: dict[str, np.ndarray] = {}
    dtype_names: dict[str, str] = {}
    for i in range(count):
        name, arr, dname = _read_variable(cur, version, i)
        variables[name], dtype_names[name] = arr, dname
    aliases: dict[str, str] = {}
    if version >= 3:
        for i in range(cur.uint("I", "the number of aliases")):
            alias = cur.string(f"the name of alias #{i}")
            at = cur.pos
            target = cur.string(f"the target of alias {alias!r}")
            if target not in variables:
                raise cur.fail(f"alias {alias!r} points to {target!r}, which is not a variable", at)
            aliases[alias] = target
    if cur.pos != len(cur.data):
        raise cur.fail(f"{len(cur.data) - cur.pos} unexpected bytes after the last alias; "
                       "expected the end of the file")
    return CT2Model(path, version, spec, revision, variables, aliases, dtype_names)


def read_ctranslate2_spec(path: str | Path) -> tuple[str, int, dict[str, np.ndarray]]:
    """(spec name, spec revision, variables with aliases resolved) of a CTranslate2 model.bin."""
    model = read_ctranslate2_model(path)
    return model.spec_name, model.revision, model.resolved()


def read_ctranslate2(path: str | Path) -> dict[str, np.ndarray]:
    """Raw CTranslate2 variable names -> arrays (native dtypes, bf16 as float32), aliases resolved."""
    return read_ctranslate2_model(path).resolved()


def dequantize(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Replace each integer `X` that has a float `X_scale` by float32 `X / scale`; drop the scales."""
    out = dict(variables)
    for name, scale in variables.items():
        base = name[: -len("_scale")]
        if not name.endswith("_scale") or base not in variables:
            continue
        q = variables[base]
        if not np.issubdtype(q.dtype, np.integer):
            continue
        s = np.asarray(scale, dtype=np.float32)
        if s.ndim == 1:  # int8: one scale per output row
            s = s.reshape((-1,) + (1,) * (q.ndim - 1))
        out[base] = (q.astype(np.float32) / s).astype(np.float32)
        del out[name]
    return out
