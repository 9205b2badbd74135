"""A whole LSTM recurrence on the CPU in one tight loop: numpy's matmul for h W_hh^T and in-place numpy ufuncs
for the gates, with no MLX graph built or evaluated per step.

MLX steps a recurrence as a handful of tiny ops per frame, each step's graph evaluated before the next product:
that overhead is most of a small LSTM's time on the CPU. Numpy's own OpenBLAS (the wheel's, 0.3.31) runs the
one-row product as fast as or faster than the system OpenBLAS MLX is preloaded with, on one thread
(`one_blas_thread`). The input part of every step (the caller's one matmul) is updated in place; the sigmoids
come from the same tanh call as the cell input: sigmoid(x) = (1 + tanh(x / 2)) / 2, the halving exact in float32.
Where the C kernel of `lstm_native` is built, each layer is one call to it instead (see `native_threads`); the
numpy loop is the fallback.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from queue import Queue

import mlx.core as mx
import numpy as np

from ..fast_math import fast_math_active
from . import lstm_native
from .gemv import _NO_TRANS, _ROW_MAJOR, _TRANS, blas_gemm

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
    return lstm_scans([(gates_x, w_hh, h0, c0)])[0]


def _scan_all(gx: np.ndarray, wt: np.ndarray, h: np.ndarray, c: np.ndarray, out: np.ndarray) -> np.ndarray:
    with one_blas_thread():
        return _steps(gx, wt, h, c, out, 0, gx.shape[0])


# The C kernel (`lstm_native`, when built): one call per layer. A recurrent weight of SPLIT_BYTES or more is split
# by hidden units over the cores, so each core's share stays in its L2 cache (a 512-unit layer: 4 MB, two 2 MB
# halves); a smaller one runs on one thread (independent runs, a bidirectional layer's directions, side by side).

SPLIT_BYTES = 1 << 21


def native_threads(w_hh: np.ndarray | mx.array) -> int:
    """Threads the C kernel would run this layer's recurrence on (0: no kernel, or the hidden size does not fit)."""
    G, H = w_hh.shape
    return lstm_native.threads_for(H, None if 4 * G * H >= SPLIT_BYTES else 1)


def _native_layer(gx: np.ndarray, w_hh: np.ndarray | mx.array, h: np.ndarray, c: np.ndarray, out: np.ndarray,
                  threads: int) -> np.ndarray:
    """One layer on the C kernel: gx (T, B, 4H), state h (B, H), c (B, H) (updated in place) -> out (T, B, H);
    returns the last h."""
    wt = lstm_native.packed_weights(w_hh, threads)
    lstm_native.layer(gx, wt, np.ascontiguousarray(h, np.float32), c, out)
    return out[-1] if len(out) else h


def lstm_scans(runs: list[tuple[mx.array, mx.array, mx.array, mx.array]]
               ) -> list[tuple[mx.array, mx.array, mx.array]]:
    """`lstm_scan` of independent recurrences (a bidirectional layer's two directions), each (gates_x, w_hh, h0,
    c0); two or more run side by side on threads (each bound by reading its own recurrent weight)."""
    prepared = []
    for gates_x, w_hh, h0, c0 in runs:
        B, T, G = gates_x.shape
        gx = np.array(gates_x, np.float32).transpose(1, 0, 2).copy()  # (T, B, 4H), updated in place step by step
        wt = np.ascontiguousarray(np.asarray(w_hh, np.float32)).T  # a transposed view: BLAS gets the flag
        h = np.array(h0, np.float32).reshape(B, G // 4)
        c = np.array(c0, np.float32).reshape(B, G // 4).copy()
        prepared.append((gx, wt, h, c, np.empty((T, B, G // 4), np.float32)))
    threads = [native_threads(w_hh) for _, w_hh, _, _ in runs]
    if all(threads) and (len(runs) == 1 or max(threads) > 1):  # one after another, each split over the cores
        last = [_native_layer(gx, w_hh, h, c, out, n) for (gx, _, h, c, out), (_, w_hh, _, _), n
                in zip(prepared, runs, threads)]
    elif all(threads):  # small weights: one thread each, side by side
        jobs = [_pool().submit(_native_layer, gx, w_hh, h, c, out, 1) for (gx, _, h, c, out), (_, w_hh, _, _)
                in zip(prepared, runs)]
        last = [j.result() for j in jobs]
    elif len(prepared) == 1:
        last = [_scan_all(*prepared[0])]
    else:
        jobs = [_pool().submit(_scan_all, *p) for p in prepared]
        last = [j.result() for j in jobs]
    return [(mx.array(np.ascontiguousarray(out.transpose(1, 0, 2))), mx.array(h), mx.array(c))
            for (_, _, _, c, out), h in zip(prepared, last)]


def _steps(gx: np.ndarray, wt: np.ndarray, h: np.ndarray, c: np.ndarray, out: np.ndarray, t0: int,
           t1: int) -> np.ndarray:
    """Steps t0 .. t1 - 1 of one layer: gx (T, B, 4H) input gates (overwritten), wt (H, 4H) the recurrent weight
    transposed, h (B, H) the state before t0, c (B, H) updated in place, out (T, B, H) -> h after t1 - 1."""
    B, G = gx.shape[1:]
    H = G // 4
    half, offset = _gate_constants(H)
    tmp, cell, rec = np.empty((B, H), np.float32), np.empty((B, H), np.float32), np.empty((B, G), np.float32)
    for t in range(t0, t1):
        y = gx[t]  # (B, 4H)
        np.matmul(h, wt, out=rec)
        np.add(y, rec, out=y)
        _gates(y, c, tmp, cell, half, offset, H, out[t])
        h = out[t]
    return h


# A stack of unidirectional layers as a pipeline: layer l runs on its own thread, a block of steps behind layer
# l - 1 (whose outputs it turns into its input gates one block at a time), so the layers' recurrent products, each
# bound by reading its own recurrent weight, run side by side on the two cores instead of one after another.

PIPELINE_BLOCK = 25  # steps per block handed from one layer to the next
_pipeline_pool: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    """The recurrences' threads (one per layer or direction running at once), made once."""
    if not _pipeline_pool:
        _pipeline_pool.append(ThreadPoolExecutor(4, thread_name_prefix="mlx_audio_lab-lstm"))
    return _pipeline_pool[0]


def lstm_stack_active(x: mx.array, num_layers: int, w_hh: mx.array) -> bool:
    """True when `lstm_stack_scan` applies: the one-loop recurrence's conditions, 2+ layers, 2+ blocks of steps."""
    return (num_layers > 1 and x.shape[1] >= 2 * PIPELINE_BLOCK and x.dtype == mx.float32
            and lstm_scan_active(x, w_hh))


def _layer_worker(l: int, gx: list, weights: list, states: list, outs: list, done: list[Queue], T: int) -> None:
    """Layer l over all steps, block by block: waits for layer l - 1's block, then its input gates, then steps."""
    w_ih, wt, bias = weights[l]
    h, c = states[l]
    for t0 in range(0, T, PIPELINE_BLOCK):
        t1 = min(t0 + PIPELINE_BLOCK, T)
        if l > 0:
            if done[l - 1].get() is None:
                done[l].put(None)
                return
            rows = gx[l][t0:t1].reshape(-1, w_ih.shape[0])  # (steps * B, 4H), a view
            np.matmul(outs[l - 1][t0:t1].reshape(len(rows), -1), w_ih.T, out=rows)
            rows += bias
        h = _steps(gx[l], wt, h, c, outs[l], t0, t1)
        done[l].put(t1)
    states[l] = (h, c)


def lstm_stack_scan(gates_x0: mx.array, weights: list[tuple[mx.array, mx.array, mx.array | None]],
                    states: list[tuple[mx.array, mx.array]]) -> tuple[mx.array, list[tuple[mx.array, mx.array]]]:
    """Unidirectional LSTM layers from the first layer's input gates (B, T, 4H) (both biases in), per layer
    (w_ih (4H, C), w_hh (4H, H), summed biases (4H,) or None) and state (h, c) (B, H) -> (last layer's hidden
    states (B, T, H), each layer's final (h, c)); the layers pipelined over threads (see above)."""
    B, T, G = gates_x0.shape
    H = G // 4
    if native_threads(weights[0][1]):
        return _native_stack(gates_x0, weights, states)
    gx = [np.array(gates_x0, np.float32).transpose(1, 0, 2).copy()]
    gx += [np.empty((T, B, G), np.float32) for _ in weights[1:]]
    ws = [(np.asarray(w_ih, np.float32), np.ascontiguousarray(np.asarray(w_hh, np.float32)).T,
           np.zeros(G, np.float32) if b is None else np.asarray(b, np.float32)) for w_ih, w_hh, b in weights]
    st = [(np.array(h, np.float32).reshape(B, H), np.array(c, np.float32).reshape(B, H).copy()) for h, c in states]
    outs = [np.empty((T, B, H), np.float32) for _ in weights]
    done = [Queue() for _ in weights]
    with one_blas_thread():
        jobs = [_pool().submit(_layer_worker, l, gx, ws, st, outs, done, T) for l in range(len(ws))]
        try:
            for j in jobs:
                j.result()
        except BaseException:
            for q in done:
                q.put(None)
            raise
    hidden = mx.array(np.ascontiguousarray(outs[-1].transpose(1, 0, 2)))
    return hidden, [(mx.array(h.copy()), mx.array(c)) for h, c in st]


def _input_gates(x: np.ndarray, w_ih: mx.array, bias: mx.array | None) -> np.ndarray:
    """x (N, C) @ w_ih (4H, C)^T + bias on the BLAS that MLX's matmuls use (`blas_gemm`), not numpy's own: a
    second BLAS thread pool would spin beside the recurrence's threads on the same cores."""
    w = np.asarray(w_ih, np.float32)
    gemm = blas_gemm()
    if gemm is None or not (w.flags.c_contiguous and x.flags.c_contiguous and x.dtype == np.float32):
        y = x @ w.T
        return y + np.asarray(bias, np.float32) if bias is not None else y
    N, C = x.shape
    G = w.shape[0]
    y = np.empty((N, G), np.float32)
    if bias is not None:
        y[:] = np.asarray(bias, np.float32)
    gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, N, G, C, 1.0, x.ctypes.data, C, w.ctypes.data, C,
         1.0 if bias is not None else 0.0, y.ctypes.data, G)
    return y


def _native_stack(gates_x0: mx.array, weights: list[tuple[mx.array, mx.array, mx.array | None]],
                  states: list[tuple[mx.array, mx.array]]) -> tuple[mx.array, list[tuple[mx.array, mx.array]]]:
    """`lstm_stack_scan` on the C kernel: the layers one after another, each split over the cores, the next
    layer's input part of all steps as one product of the whole previous layer's output."""
    B, T, G = gates_x0.shape
    H = G // 4
    gx = np.ascontiguousarray(np.asarray(gates_x0, np.float32).transpose(1, 0, 2))  # (T, B, 4H); read only
    new, out = [], np.empty((T, B, H), np.float32)
    for l, ((w_ih, w_hh, bias), (h0, c0)) in enumerate(zip(weights, states)):
        if l:
            gx = _input_gates(out.reshape(T * B, H), w_ih, bias).reshape(T, B, G)
        c = np.array(c0, np.float32).reshape(B, H).copy()
        out = np.empty((T, B, H), np.float32)
        h = _native_layer(gx, w_hh, np.array(h0, np.float32).reshape(B, H), c, out, native_threads(w_hh))
        new.append((mx.array(h.copy()), mx.array(c)))
    return mx.array(np.ascontiguousarray(out.transpose(1, 0, 2))), new
