"""Unmasked softmax attention over long sequences on NumPy: the BLAS for the two products, numpy's SIMD `exp`.

MLX's CPU back end evaluates `exp` one scalar at a time, so the softmax, not the products, decides a long
attention's time (a Whisper encoder layer: 6 heads x 1500 x 1500 scores). Here each head's scores go through
numpy's vectorised `exp` in place, and the row sums come out of the value product (a column of ones beside
the values), so the (T, S) probabilities are never divided. Inputs stay in the projections' (B, T, H * D)
layout: the BLAS reads each head as a strided matrix, no transposes are copied.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx
import numpy as np

_pool: list[ThreadPoolExecutor] = []


def _workers() -> ThreadPoolExecutor:
    """Two threads (numpy releases the GIL inside its loops and BLAS calls), made once."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(2, thread_name_prefix="mlx_audio_lab-attention"))
    return _pool[0]


def _head(q: np.ndarray, k: np.ndarray, v1: np.ndarray, out: np.ndarray) -> None:
    """softmax(q k^T) v of one head into `out` (T, D); v1 is (S, D + 1) with a last column of ones."""
    s = q @ k.T  # (T, S)
    s -= s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    o = s @ v1  # (T, D + 1): the weighted values and the row sums
    np.divide(o[:, :-1], o[:, -1:], out=out)


def attention(q: mx.array, k: mx.array, v: mx.array, heads: int, threads: int = 1) -> mx.array:
    """softmax(q k^T) v per head for q (B, T, H * D) (already scaled), k, v (B, S, H * D) -> (B, T, H * D),
    float32 (evaluates the inputs). `threads` > 1 spreads the heads over that many worker threads."""
    mx.eval(q, k, v)
    qn, kn, vn = (np.asarray(a, dtype=np.float32) for a in (q, k, v))
    B, T, C = qn.shape
    S, D = kn.shape[1], C // heads
    out = np.empty((B, T, C), np.float32)
    jobs = []
    for b in range(B):
        ones = np.ones((S, 1), np.float32)
        for h in range(heads):
            cols = slice(h * D, (h + 1) * D)
            args = (qn[b, :, cols], kn[b, :, cols], np.concatenate([vn[b, :, cols], ones], axis=1), out[b, :, cols])
            if threads > 1:
                jobs.append(_workers().submit(_head, *args))
            else:
                _head(*args)
    for j in jobs:
        j.result()
    return mx.array(out)
