"""The LSTM recurrence of `lstm_kernels.c`, built with the system C compiler and called through ctypes.

Built as `native.py` builds the conv kernels: `lstm_native.main()` (.ci/setup calls it) or the first use, where a
compiler exists and the package folder is writable; the library's name carries a hash of the source and the
flags (an edited source is rebuilt, never run stale); the build is atomic (temp file, then rename). Without a
compiler, on a build failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and `recurrence.py` keeps
its numpy loop. The call releases the GIL.
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

SOURCE = Path(__file__).with_name("lstm_kernels.c")
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-pthread")
OFF_ENV = "MLX_AUDIO_LAB_NO_NATIVE"  # =1: never build or load the kernel (the numpy loop runs)
LANES = 16  # the kernel's vector width in floats: each thread's share of the hidden units is a multiple
TILE = 8 * LANES  # gate columns per tile of the kernel's weight layout
MAX_THREADS = 16
SPLIT_MAX = 4  # threads one layer is split over by default: more share out less than they add in barrier time

_lib: list = []  # [CDLL or None], looked up once


def library_path() -> Path:
    """Where the build for this source and these flags lives (next to the source)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:12]
    return SOURCE.with_name(f"_lstm_kernels-{digest}.so")


def build(quiet: bool = True) -> Path | None:
    """Compile the kernel (temp file, then rename); the library's path, or None without a compiler."""
    target = library_path()
    if target.exists():
        return target
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    try:  # a read-only install: no build
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".build-lstm-", suffix=".so")
    except OSError:
        return None
    os.close(fd)
    try:
        subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], check=True, capture_output=quiet, timeout=120)
        os.replace(tmp, target)
        for old in target.parent.glob("_lstm_kernels-*.so"):  # builds of earlier sources
            if old != target:
                old.unlink(missing_ok=True)
    except (OSError, subprocess.SubprocessError) as e:
        Path(tmp).unlink(missing_ok=True)
        if not quiet:
            print(f"lstm kernel not built: {e}", file=sys.stderr)
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
                lib.lstm_layer_f32.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_long] * 4
                lib.lstm_layer_f32.restype = ctypes.c_int
            except (OSError, AttributeError):
                lib = None
        _lib.append(lib)
    return _lib[0]


def cores() -> int:
    """CPU cores this process may run on (at most MAX_THREADS)."""
    try:
        return max(1, min(MAX_THREADS, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def threads_for(hidden: int, wanted: int | None = None) -> int:
    """Threads to split `hidden` units over: up to `wanted` (default: the cores, at most SPLIT_MAX), each share a
    multiple of 16; 0 when the kernel is missing or no split fits."""
    if library() is None:
        return 0
    for n in range(min(wanted or min(cores(), SPLIT_MAX), hidden // LANES), 0, -1):
        if hidden % (n * LANES) == 0:
            return n
    return 0


def thread_weights(w_hh: np.ndarray, threads: int) -> np.ndarray:
    """(4H, H) torch-layout recurrent weight -> (threads, H * 4n): per thread, the columns [i | f | g | o] of its
    n = H / threads units as an (H, 4n) matrix cut in column tiles of `TILE`, each tile stored contiguously."""
    G, H = w_hh.shape
    n = H // threads
    per_gate = np.asarray(w_hh, np.float32).reshape(4, threads, n, H)  # (gate, thread, unit, k)
    cols = per_gate.transpose(1, 3, 0, 2).reshape(threads, H, 4 * n)  # (thread, k, column)
    tiles = [cols[:, :, g : g + TILE].reshape(threads, -1) for g in range(0, 4 * n, TILE)]
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))


def layer(gx: np.ndarray, wt: np.ndarray, h0: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """gx (T, B, 4H) input gates (both biases in), wt from `thread_weights`, h0 (B, H), c (B, H) (updated in
    place to the last cell) -> out (T, B, H) the hidden states. All float32, C-contiguous."""
    T, B, G = gx.shape
    threads, H = wt.shape[0], G // 4
    G = wt.shape[1] // H  # gate columns per thread
    rec = np.empty(threads * G, np.float32)
    for a in (gx, wt, h0, c, out):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError("lstm kernel: every array must be C-contiguous float32")
    rc = library().lstm_layer_f32(gx.ctypes.data, wt.ctypes.data, h0.ctypes.data, c.ctypes.data, out.ctypes.data,
                                  rec.ctypes.data, T, B, H, threads)
    if rc:
        raise RuntimeError("lstm kernel: its threads could not be started")


def main() -> int:
    """Build the kernel and say where it is (0), or why not (1)."""
    built = build(quiet=False)
    print(f"lstm kernel: {built}" if built else "lstm kernel: not built (no C compiler); the numpy loop runs")
    return 0 if built else 1


if __name__ == "__main__":
    sys.exit(main())
