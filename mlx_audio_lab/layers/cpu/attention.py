"""Unmasked softmax attention over long sequences on NumPy: the BLAS for the two products, numpy's SIMD `exp`.

MLX's CPU back end evaluates `exp` one scalar at a time, so the softmax, not the products, decides a long
attention's time (a Whisper encoder layer: 6 heads x 1500 x 1500 scores). Here each head's scores go through
numpy's vectorised `exp` in place, and the row sums come out of the value product (a column of ones beside
the values), so the (T, S) probabilities are never divided. Inputs stay in the projections' (B, T, H * D)
layout: the BLAS reads each head as a strided matrix, no transposes are copied. The scores are made
`ROW_BLOCK` query rows at a time (128 x 1500 floats, 0.8 MB), so that the max, the subtraction, the `exp`
and the value product read them from the core's cache instead of memory; the blocks are the work items
of two worker threads, each on a one-thread BLAS. Where `transformer_native`'s C kernel is built, `attention`
runs the same blocks there instead (the max, exp and row sums in one pass, no Python between the products).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx
import numpy as np

from . import transformer_native
from .recurrence import one_blas_thread

ROW_BLOCK = 128  # query rows per work item
# Softmax is unchanged by a shift of its row. Rows whose largest score is within +-60 skip the subtraction
# of their maximum (one pass fewer): exp stays normal and finite, and 1500 terms of at most e^60 sum far
# below float32's range; any other row is shifted by its maximum as usual.
UNSHIFTED = 60.0
_pool: list[ThreadPoolExecutor] = []
_scratch = threading.local()


def workers() -> ThreadPoolExecutor:
    """Two threads (numpy releases the GIL inside its loops and BLAS calls), made once."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(2, thread_name_prefix="mlx_audio_lab-attention"))
    return _pool[0]


def scratch(name: str, shape: tuple[int, int]) -> np.ndarray:
    """A float32 (rows, cols) view of the calling thread's grow-only buffer `name` (no page faults per call)."""
    n = shape[0] * shape[1]
    buf = getattr(_scratch, name, None)
    if buf is None or buf.size < n:
        buf = np.empty(n, np.float32)
        setattr(_scratch, name, buf)
    return buf[:n].reshape(shape)


def _block(q: np.ndarray, k_t: np.ndarray, v1: np.ndarray, out: np.ndarray) -> None:
    """softmax(q k^T) v for a block of query rows into `out` (t, D), k_t (D, S) contiguous; v1 is (S, D + 1)
    with a last column of ones."""
    s = scratch("scores", (q.shape[0], k_t.shape[1]))
    np.matmul(q, k_t, out=s)  # (t, S)
    top = s.max(axis=1, keepdims=True)
    if not (top.max() <= UNSHIFTED and top.min() >= -UNSHIFTED):  # (also when NaN)
        np.subtract(s, top, out=s)
    np.exp(s, out=s)
    o = scratch("weighted", (q.shape[0], v1.shape[1]))
    np.matmul(s, v1, out=o)  # (t, D + 1): the weighted values and the row sums
    np.divide(o[:, :-1], o[:, -1:], out=out)


def attention_into(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, out: np.ndarray,
                   threads: int = 2) -> None:
    """softmax(q k^T) v per head into `out` (B, T, H * D), for float32 q (B, T, H * D) (already scaled), k, v
    (B, S, H * D); inputs may be column slices of one wider array. `threads` > 1: the blocks go to the workers."""
    B, T, C = q.shape
    S, D = k.shape[1], C // heads
    ones = np.ones((S, 1), np.float32)
    jobs = []
    for b in range(B):
        for h in range(heads):
            cols = slice(h * D, (h + 1) * D)
            v1 = np.concatenate([v[b, :, cols], ones], axis=1)
            k_t = np.ascontiguousarray(k[b, :, cols].T)  # (D, S): the BLAS reads it faster than a strided k^T
            for r in range(0, T, ROW_BLOCK):
                rows = slice(r, min(r + ROW_BLOCK, T))
                jobs.append((q[b, rows, cols], k_t, v1, out[b, rows, cols]))
    with one_blas_thread():
        if threads > 1:
            list(workers().map(lambda job: _block(*job), jobs))
        else:
            for job in jobs:
                _block(*job)


def attention(q: mx.array, k: mx.array, v: mx.array, heads: int, threads: int = 2, native: bool = True) -> mx.array:
    """softmax(q k^T) v per head for q (B, T, H * D) (already scaled), k, v (B, S, H * D) -> (B, T, H * D),
    float32 (evaluates the inputs). `threads` > 1 spreads the row blocks over two threads. `native`: the C
    kernel of `transformer_native` where it is built (its max, exp and sums in one pass), else the NumPy blocks."""
    mx.eval(q, k, v)
    qn, kn, vn = (np.ascontiguousarray(a, dtype=np.float32) for a in (q, k, v))
    out = np.empty(qn.shape, np.float32)
    if not (native and transformer_native.attention_into(qn, kn, vn, heads, out, min(threads, 2))):
        attention_into(qn, kn, vn, heads, out, threads)
    return mx.array(out)
