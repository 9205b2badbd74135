"""Run MLX's Linux CPU back end on OpenBLAS instead of the reference BLAS its wheel bundles.

The `mlx[cpu]` wheel links a netlib reference BLAS (about 50x slower matmuls than torch here). libmlx
resolves `cblas_sgemm` through the global symbol scope first, so loading OpenBLAS with RTLD_GLOBAL *before*
`mlx.core` is imported (or `LD_PRELOAD`) makes MLX use it. Setup installs a `.pth` hook so every Python
started from `.venv` does this at start-up; the Jupyter kernel also gets `LD_PRELOAD`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
import warnings
from pathlib import Path

CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)
_handle: ctypes.CDLL | None = None


def needed() -> bool:
    """True where MLX's CPU back end ships the slow reference BLAS (Linux)."""
    return platform.system() == "Linux" and os.environ.get("MLX_AUDIO_LAB_NO_OPENBLAS") != "1"


def openblas_path() -> str | None:
    """The system OpenBLAS shared library, if installed."""
    env = os.environ.get("MLX_AUDIO_LAB_OPENBLAS")
    for c in ((env,) if env else ()) + CANDIDATES:
        if c and Path(c).is_file():
            return c
    found = ctypes.util.find_library("openblas")
    return found


def cpu_flags() -> set[str]:
    """The x86 CPU's feature flags from /proc/cpuinfo (empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


AVX512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


def core_type() -> str | None:
    """The OpenBLAS kernel family to force on this CPU, or None (let OpenBLAS detect it).

    Debian 12's OpenBLAS 0.3.21 does not know Sapphire Rapids and falls back to its oldest x86 kernels
    ("Prescott", SSE3): MLX's sgemm 3x and its GEMV 4x slower than with the SkylakeX kernels that CPU runs.
    An AVX-512 CPU gets SkylakeX unless OPENBLAS_CORETYPE is already set."""
    if os.environ.get("OPENBLAS_CORETYPE") or platform.machine() != "x86_64":
        return None
    return "SkylakeX" if AVX512 <= cpu_flags() else None


def corename() -> str | None:
    """The kernel family the global scope's OpenBLAS runs ("SkylakeX", "Prescott", ...), None without one."""
    try:
        fn = ctypes.CDLL(None).openblas_get_corename
    except AttributeError:
        return None
    fn.restype = ctypes.c_char_p
    return fn().decode()


def activate() -> bool:
    """Load OpenBLAS globally before MLX (with the kernel family `core_type` forces); returns True when MLX
    will (or does) use it."""
    global _handle
    if not needed():
        return False
    if _handle is None:
        path = openblas_path()
        if path is None:
            return False
        if "mlx.core" in sys.modules and "openblas" not in os.environ.get("LD_PRELOAD", ""):
            return False  # too late: libmlx already bound its BLAS symbols
        forced = core_type()
        if forced:  # read by OpenBLAS as it loads (a preloaded one has chosen already: `corename` tells)
            os.environ["OPENBLAS_CORETYPE"] = forced
        _handle = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return status() == "openblas"


def _library_of(symbol: str) -> str | None:
    """Path of the shared object that the global scope resolves `symbol` to."""
    libdl = ctypes.CDLL(None)
    try:
        fn = getattr(libdl, symbol)
    except AttributeError:
        return None
    addr = ctypes.cast(fn, ctypes.c_void_p).value

    class DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]

    info = DlInfo()
    if libdl.dladdr(ctypes.c_void_p(addr), ctypes.byref(info)) == 0 or not info.fname:
        return None
    return info.fname.decode()


def status() -> str:
    """'openblas' (fast path active), 'reference' (slow bundled BLAS) or 'not-needed' (macOS, Metal/CUDA)."""
    if not needed():
        return "not-needed"
    lib = _library_of("cblas_sgemm")
    if lib and "openblas" in lib.lower():
        return "openblas"
    return "reference"


def warn_if_slow() -> None:
    """Warn once when MLX is about to run on the reference BLAS."""
    if needed() and not activate():
        warnings.warn(
            "MLX is using its bundled reference BLAS (matmuls ~50x slower on CPU). Install OpenBLAS "
            "(apt-get install libopenblas0-pthread) and start Python from the project's .venv, or set "
            "LD_PRELOAD to libopenblas.so.0.",
            RuntimeWarning,
            stacklevel=2,
        )


warn_if_slow()
