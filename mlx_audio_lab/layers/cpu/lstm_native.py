"""The LSTM recurrence of `lstm_kernels.c`, built with the system C compiler and called through ctypes.

Built by `cbuild.CKernel` (`lstm_native.main()` from .ci/setup, or the first use); without a compiler, on a
build failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and `recurrence.py` keeps its numpy loop.
The call releases the GIL.
"""

from __future__ import annotations

import ctypes
import os
import sys

import mlx.core as mx
import numpy as np

from .cbuild import CKernel

KERNEL = CKernel("lstm_kernels.c", {"lstm_layer_f32": ([ctypes.c_void_p] * 6 + [ctypes.c_long] * 5, ctypes.c_int)},
                 ("-pthread",))
LANES = 16  # the kernel's vector width in floats: each thread's share of the hidden units is a multiple
TILE = 8 * LANES  # gate columns per tile of the kernel's weight layout
MAX_THREADS = 16
SPLIT_MAX = 4  # threads one layer is split over by default: more share out less than they add in barrier time
GRACE_NS = 500_000  # a block its thread has not started this long after another finished its own is taken over
# (a thread descheduled for a time slice, not one a little slower: a taken block pulls its weights into another cache)


def library() -> ctypes.CDLL | None:
    """The loaded kernel, or None (no compiler, a failed build, MLX_AUDIO_LAB_NO_NATIVE=1: see `cbuild`)."""
    return KERNEL.library()


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


PACKED_CACHE = 16  # packed recurrent weights kept (a few LSTMs' layers and directions)
_packed: dict[tuple[int, int], tuple[object, np.ndarray]] = {}  # (id(weight), threads) -> (weight, packed)


def packed_weights(w_hh, threads: int) -> np.ndarray:
    """`thread_weights` of a recurrent weight, an MLX parameter array packed once per array object:
    a model's parameter is repacked only when it is replaced by another array (a reload, `update`); the entry
    holds the array, so its id cannot be reused while cached."""
    if not isinstance(w_hh, mx.array):  # a NumPy array can change in place: packed every time
        return thread_weights(np.asarray(w_hh, np.float32), threads)
    key = (id(w_hh), threads)
    hit = _packed.get(key)
    if hit is not None and hit[0] is w_hh:
        return hit[1]
    wt = thread_weights(np.asarray(w_hh, np.float32), threads)
    if len(_packed) >= PACKED_CACHE:
        _packed.pop(next(iter(_packed)))  # the oldest entry
    _packed[key] = (w_hh, wt)
    return wt


def layer(gx: np.ndarray, wt: np.ndarray, h0: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """gx (T, B, 4H) input gates (both biases in), wt from `thread_weights`, h0 (B, H), c (B, H) (updated in
    place to the last cell) -> out (T, B, H) the hidden states. All float32, C-contiguous. A thread the machine
    does not run within GRACE_NS has its block of that step done by another (the same numbers either way)."""
    T, B, G = gx.shape
    threads, H = wt.shape[0], G // 4
    G = wt.shape[1] // H  # gate columns per thread
    rec = np.empty(threads * G, np.float32)
    for a in (gx, wt, h0, c, out):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError("lstm kernel: every array must be C-contiguous float32")
    rc = library().lstm_layer_f32(gx.ctypes.data, wt.ctypes.data, h0.ctypes.data, c.ctypes.data, out.ctypes.data,
                                  rec.ctypes.data, T, B, H, threads, GRACE_NS)
    if rc:
        raise RuntimeError("lstm kernel: its threads could not be started")


def main() -> int:
    """Build the kernel and say where it is (0), or why not (1)."""
    return KERNEL.main("the numpy loop runs")


if __name__ == "__main__":
    sys.exit(main())
