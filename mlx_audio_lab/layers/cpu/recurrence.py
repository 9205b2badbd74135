"""A whole LSTM recurrence on the CPU in one tight loop: numpy's matmul for h W_hh^T and in-place numpy ufuncs
for the gates, with no MLX graph built or evaluated per step.

MLX steps a recurrence as a handful of tiny ops per frame, each step's graph evaluated before the next product:
that overhead is most of a small LSTM's time on the CPU. Numpy's own OpenBLAS (the wheel's, 0.3.31) runs the
one-row product as fast as or faster than the system OpenBLAS MLX is preloaded with, on one thread
(`one_blas_thread`). The input part of every step (the caller's one matmul) is updated in place; the sigmoids
come from the same tanh call as the cell input: sigmoid(x) = (1 + tanh(x / 2)) / 2, the halving exact in float32.
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager
from pathlib import Path

import mlx.core as mx
import numpy as np

from ..fast_math import fast_math_active

_threads: list = []  # [(get, set) of numpy's own OpenBLAS thread count, or None], looked up once


def _numpy_blas_threads():
    """`(get, set)` of the thread count of numpy's bundled OpenBLAS (scipy-openblas), or None."""
    if not _threads:
        found = None
        for path in sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("libscipy_openblas*.so*")):
            lib = ctypes.CDLL(str(path))
            for get, set_ in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                              ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads")):
                if hasattr(lib, get) and hasattr(lib, set_):
                    getattr(lib, set_).argtypes = [ctypes.c_int]
                    found = (getattr(lib, get), getattr(lib, set_))
                    break
            if found:
                break
        _threads.append(found)
    return _threads[0]


@contextmanager
def one_blas_thread():
    """numpy's BLAS on one thread: a one-row product gains nothing from a second, and its threads waking each
    step fight MLX's (a 2048 x 512 step went from 0.17 to 7 ms on a busy 2-core machine)."""
    fns = _numpy_blas_threads()
    if fns is None:
        yield
        return
    before = fns[0]()
    fns[1](1)
    try:
        yield
    finally:
        fns[1](before)


def _gate_constants(hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Per gate (i, f, g, o): the scale before tanh and the affine after it that turn tanh into the gates."""
    half = np.full(4 * hidden, 0.5, np.float32)
    half[2 * hidden : 3 * hidden] = 1.0  # the cell input g keeps tanh(x)
    offset = np.full(4 * hidden, 0.5, np.float32)
    offset[2 * hidden : 3 * hidden] = 0.0
    return half, offset


def _gates(y: np.ndarray, c: np.ndarray, tmp: np.ndarray, cell: np.ndarray, half: np.ndarray,
           offset: np.ndarray, H: int, h: np.ndarray) -> None:
    """One step's cell update in place: y (B, 4H) pre-activations, c (B, H) the cell; the new h into `h`."""
    np.multiply(y, half, out=y)
    np.tanh(y, out=y)
    np.multiply(y, half, out=y)
    np.add(y, offset, out=y)  # now [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)]
    np.multiply(c, y[:, H : 2 * H], out=c)
    np.multiply(y[:, :H], y[:, 2 * H : 3 * H], out=tmp)
    np.add(c, tmp, out=c)
    np.tanh(c, out=cell)
    np.multiply(cell, y[:, 3 * H :], out=h)


def lstm_scan_active(gates_x: mx.array, w_hh: mx.array) -> bool:
    """True when `lstm_scan` applies: float32 on the CPU with the fast paths on, a recurrent weight worth it."""
    return (fast_math_active(max(w_hh.size, gates_x.size)) and gates_x.dtype == mx.float32
            and w_hh.dtype == mx.float32)


def lstm_scan(gates_x: mx.array, w_hh: mx.array, h0: mx.array, c0: mx.array) -> tuple[mx.array, mx.array, mx.array]:
    """The LSTM recurrence over precomputed input gates (B, T, 4H) (both biases included), recurrent weight
    (4H, H), state (B, H) x 2 -> (hidden states (B, T, H), last h, last c); gate order (i, f, g, o) as torch."""
    B, T, G = gates_x.shape
    H = G // 4
    gx = np.array(gates_x, np.float32).transpose(1, 0, 2).copy()  # (T, B, 4H), updated in place step by step
    w = np.ascontiguousarray(np.asarray(w_hh, np.float32))
    h = np.array(h0, np.float32).reshape(B, H)
    c = np.array(c0, np.float32).reshape(B, H).copy()
    out = np.empty((T, B, H), np.float32)
    half, offset = _gate_constants(H)
    tmp, cell = np.empty((B, H), np.float32), np.empty((B, H), np.float32)
    wt = w.T  # a transposed view: numpy hands BLAS the flag, nothing is copied
    rec = np.empty((B, G), np.float32)
    with one_blas_thread():
        for t in range(T):
            y = gx[t]  # (B, 4H)
            np.matmul(h, wt, out=rec)
            np.add(y, rec, out=y)
            _gates(y, c, tmp, cell, half, offset, H, out[t])
            h = out[t]
    hidden = mx.array(np.ascontiguousarray(out.transpose(1, 0, 2)))
    return hidden, mx.array(h), mx.array(c)
