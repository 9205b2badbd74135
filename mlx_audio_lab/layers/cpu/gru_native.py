"""The GRU recurrence of `gru_kernels.c`, built with the system C compiler and called through ctypes.

Built the way `native.py` builds the conv kernels: `gru_native.main()` (.ci/setup calls it) or the first use,
where a compiler exists and the package folder is writable; the library's name carries a hash of the source and
the flags (an edited source is rebuilt, never run stale); the build is atomic (temp file, then rename). Without a
compiler, on a build failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and `gru.py` keeps its numpy
loop. The call releases the GIL.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("gru_kernels.c")
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared")
OFF_ENV = "MLX_AUDIO_LAB_NO_NATIVE"  # =1: never build or load the kernel (the numpy loop runs)
LANES = 16  # the kernel's vector width in floats: the hidden size must be a multiple
BLOCK = 128  # gate rows per accumulator block (TILE * LANES in the kernel): the packed weight's tile width

_lib: list = []  # [CDLL or None], looked up once


def library_path() -> Path:
    """Where the build for this source and these flags lives (next to the source)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:12]
    return SOURCE.with_name(f"_gru_kernels-{digest}.so")


def build(quiet: bool = True) -> Path | None:
    """Compile the kernel (temp file, then rename); the library's path, or None without a compiler."""
    target = library_path()
    if target.exists():
        return target
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    try:  # a read-only install: no build
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".build-gru-", suffix=".so")
    except OSError:
        return None
    os.close(fd)
    try:
        subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], check=True, capture_output=quiet, timeout=120)
        os.replace(tmp, target)
        for old in target.parent.glob("_gru_kernels-*.so"):  # builds of earlier sources
            if old != target:
                old.unlink(missing_ok=True)
    except (OSError, subprocess.SubprocessError) as e:
        Path(tmp).unlink(missing_ok=True)
        if not quiet:
            print(f"gru kernel not built: {e}", file=sys.stderr)
        return None
    return target


def library() -> ctypes.CDLL | None:
    """The loaded kernel, or None (no compiler, failed build, a 32-bit machine, or MLX_AUDIO_LAB_NO_NATIVE=1)."""
    if not _lib:
        lib = None
        wanted = sys.maxsize > 2**32 and os.environ.get(OFF_ENV) != "1"
        path = build() if wanted else None
        if path is not None:
            try:
                lib = ctypes.CDLL(str(path))
                lib.gru_scan_f32.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_long] * 4
                lib.gru_scan_f32.restype = None
            except (OSError, AttributeError):
                lib = None
        _lib.append(lib)
    return _lib[0]


def usable(hidden: int) -> bool:
    """True when the kernel is loaded and takes this hidden size."""
    return hidden % LANES == 0 and library() is not None


def scan(gx: np.ndarray, w_hh: np.ndarray, b_hh: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """gx (T, B, 3H) input pre-activations (b_ih included), w_hh (3H, H), b_hh (3H,), h0 (B, H) -> (T, B, H)."""
    T, B, G = gx.shape
    H = G // 3
    gx = np.ascontiguousarray(gx, np.float32)
    wp, b = pack(w_hh, b_hh)
    h = np.ascontiguousarray(h0, np.float32).reshape(B, H)
    out = np.empty((T, B, H), np.float32)
    acc = np.empty(b.size, np.float32)
    library().gru_scan_f32(gx.ctypes.data, wp.ctypes.data, b.ctypes.data, h.ctypes.data, out.ctypes.data,
                           acc.ctypes.data, T, B, H, b.size)
    return out


def pack(w_hh: np.ndarray, b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W_hh (3H, H) as the kernel streams it, (Gp / BLOCK, H, BLOCK) (zero rows from 3H up to Gp, a multiple of
    BLOCK), and b_hh padded to Gp: each block of gate rows is one contiguous run of memory."""
    G, H = w_hh.shape
    gp = -(-G // BLOCK) * BLOCK
    w = np.zeros((gp, H), np.float32)
    w[:G] = w_hh
    b = np.zeros(gp, np.float32)
    b[:G] = b_hh
    return np.ascontiguousarray(w.reshape(gp // BLOCK, BLOCK, H).transpose(0, 2, 1)), b


def main() -> int:
    """Build the kernel and say where it is (0), or why not (1)."""
    built = build(quiet=False)
    print(f"gru kernel: {built}" if built else "gru kernel: not built (no C compiler); the numpy loop runs")
    return 0 if built else 1


if __name__ == "__main__":
    sys.exit(main())
