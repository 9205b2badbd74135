"""Codec codes in and out: range / shape checks against a codec's codebooks, and the `.npy` / `.npz` files that
`encode` writes and `decode` reads (read with the sizes bounded by the file, never unpickling).

Files: `.npy` holds one array, (codebooks, frames) integers; a multi-scale codec (SNAC) stores its scales as
one (rows, coarse frames) grid (`snac.frames.to_grid`, Orpheus's order). `.npz` holds
named arrays: `arr_0 ... arr_K` (one per scale, as `np.savez(path, *codes)`), or a chunked codec's
`codes` / `scales` / `padding`.
"""

from __future__ import annotations

import io
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import CodesError

MAX_NPZ_BYTES = 1 << 30  # uncompressed bytes an .npz may unpack to (codes of ~30 h of audio)


def check_codes(codes, codebook_size: int, max_codebooks: int, where: str = "codes",
                min_codebooks: int = 1) -> np.ndarray:
    """Integer codes (codebooks, frames) that this codec can look up -> int64 array; else a CodesError naming
    the first bad code, e.g. "codebook 2, frame 17: code 1024 is outside 0..1023"."""
    a = np.asarray(codes)
    if not np.issubdtype(a.dtype, np.integer):
        raise CodesError(f"{where} hold {a.dtype} values; codes must be integers (codebook indices)")
    if a.ndim != 2:
        raise CodesError(f"{where} have shape {a.shape}; expected (codebooks, frames)")
    n, frames = a.shape
    if not min_codebooks <= n <= max_codebooks:
        hint = " (transposed? codes are (codebooks, frames))" if min_codebooks <= frames <= max_codebooks else ""
        raise CodesError(f"{where} have {n} codebooks; this codec takes {min_codebooks}..{max_codebooks}{hint}")
    if frames == 0:
        raise CodesError(f"{where} have no frames (shape {a.shape}); nothing to decode")
    return check_range(a, codebook_size, where, "codebook {0}, frame {1}")


def check_range(a: np.ndarray, codebook_size: int, where: str, position: str) -> np.ndarray:
    """Every code in 0..codebook_size-1, else a CodesError naming the first bad one by `position`."""
    bad = (a < 0) | (a >= codebook_size)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CodesError(f"{where}: {position.format(*at)}: code {int(a[at])} is outside 0..{codebook_size - 1} "
                         f"({int(bad.sum())} codes out of range); were they made by this codec?")
    return a.astype(np.int64, copy=False)


def check_scales(codes: Sequence, codebook_size: int, strides: Sequence[int], where: str = "codes") -> list[np.ndarray]:
    """Multi-scale codes (one (frames_k,) array per scale, coarsest first; frames_k * stride_k equal) -> int64.

    The first n scales alone are valid (a coarser decode, as residual codebooks allow); more than the codec has
    are not."""
    if not 1 <= len(codes) <= len(strides):
        raise CodesError(f"{where} have {len(codes)} scales; this codec has {len(strides)} (strides {list(strides)})")
    out, finest = [], None
    for k, (c, s) in enumerate(zip(codes, strides)):
        a = np.asarray(c)
        a = a[0] if a.ndim == 2 and a.shape[0] == 1 else a
        if not np.issubdtype(a.dtype, np.integer) or a.ndim != 1 or a.size == 0:
            raise CodesError(f"{where}: scale {k} is {a.dtype} {a.shape}; expected a non-empty 1-D integer array")
        n = a.shape[0] * s
        if finest is None:
            finest = n
        elif n != finest:
            raise CodesError(f"{where}: scale {k} has {a.shape[0]} frames; with stride {s} it should have "
                             f"{finest // s} (scale 0 has {len(out[0])} frames at stride {strides[0]})")
        out.append(check_range(a, codebook_size, where, f"scale {k}, frame {{0}}"))
    return out


def _read_npy(f: io.BufferedIOBase | io.BytesIO, size: int, name: str) -> np.ndarray:
    """One .npy from an open file of `size` bytes; the header's shape must fit the bytes that follow."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise CodesError(f"{name}: .npy format version {version} is not read here (1.0 and 2.0 are)")
    if dtype.hasobject:
        raise CodesError(f"{name}: holds Python objects (dtype {dtype}); refusing to unpickle them")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    need, left = count * dtype.itemsize, size - f.tell()
    if need != left:
        raise CodesError(f"{name}: the header says {dtype} {shape} ({need} bytes) but {left} bytes follow; "
                         "the file is truncated or corrupt")
    data = np.frombuffer(f.read(need), dtype=dtype, count=count)
    return data.reshape(shape, order="F" if fortran else "C").copy()


def read_codes(path: str | Path) -> np.ndarray | dict[str, np.ndarray]:
    """An `.npy` array or an `.npz`'s arrays by name, with CodesErrors naming the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CodesError(f"codes file not found: {path}" if not path.exists() else f"{path} is not a file")
    try:
        if path.suffix == ".npz" or zipfile.is_zipfile(path):
            return _read_npz(path)
        with path.open("rb") as f:
            return _read_npy(f, path.stat().st_size, str(path))
    except CodesError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
            KeyError, OverflowError, TypeError, SyntaxError, tokenize.TokenError) as e:  # numpy parses the header
        raise CodesError(f"cannot read codes from {path} ({type(e).__name__}: {e}); give the .npy / .npz that "
                         "`mlx-audio-lab encode` wrote") from e


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if sum(i.file_size for i in infos) > MAX_NPZ_BYTES:
            raise CodesError(f"{path}: unpacks to more than {MAX_NPZ_BYTES >> 20} MB; not a codes file")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise CodesError(f"{path}: member {info.filename!r} is not an .npy array")
            data = z.read(info)
            out[info.filename[:-4]] = _read_npy(io.BytesIO(data), len(data), f"{path}:{info.filename}")
    if not out:
        raise CodesError(f"{path}: holds no arrays")
    return out


def scales_from_npz(arrays: dict[str, np.ndarray], where: str) -> list[np.ndarray]:
    """`arr_0 ... arr_K` of an `np.savez(path, *codes)` file, in order."""
    want = [f"arr_{k}" for k in range(len(arrays))]
    if sorted(arrays) != sorted(want):
        raise CodesError(f"{where} holds arrays {sorted(arrays)}; expected {want} (one per scale) or a chunked "
                         "codec's 'codes' / 'scales' / 'padding'")
    return [arrays[k] for k in want]


def write_codes(path: str | Path, codes: np.ndarray | dict[str, np.ndarray]) -> Path:
    """Write one array (`.npy`) or named arrays (`.npz`) to exactly `path`, atomically."""
    from .atomic import atomic_file

    path = Path(path).expanduser()
    want = ".npz" if isinstance(codes, dict) else ".npy"
    if path.suffix != want:
        raise CodesError(f"cannot write these codes to {path}: they are "
                         f"{'several arrays' if want == '.npz' else 'one array'}; name the output *{want}")
    with atomic_file(path) as tmp, tmp.open("wb") as f:
        if isinstance(codes, dict):
            np.savez(f, **codes)
        else:
            np.save(f, np.asarray(codes))
    return path
