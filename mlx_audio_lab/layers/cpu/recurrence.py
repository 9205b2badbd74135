"""A whole LSTM recurrence on the CPU in one tight loop: numpy's matmul for h W_hh^T and in-place numpy ufuncs
for the gates, with no MLX graph built or evaluated per step.

MLX steps a recurrence as a handful of tiny ops per frame, each step's graph evaluated before the next product:
that overhead is most of a small LSTM's time on the CPU. Numpy's own OpenBLAS (the wheel's, 0.3.31) runs the
one-row product 2-9x faster than the system OpenBLAS MLX is preloaded with (2048 x 512: 0.14 vs 0.28 ms;
512 x 128: 5 vs 22 us). The input part of every step (the caller's one matmul) is updated in place; the sigmoids
come from the same tanh call as the cell input: sigmoid(x) = (1 + tanh(x / 2)) / 2, the halving exact in float32.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ..fast_math import fast_math_active


def _gate_constants(hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Per gate (i, f, g, o): the scale before tanh and the affine after it that turn tanh into the gates."""
    half = np.full(4 * hidden, 0.5, np.float32)
    half[2 * hidden : 3 * hidden] = 1.0  # the cell input g keeps tanh(x)
    offset = np.full(4 * hidden, 0.5, np.float32)
    offset[2 * hidden : 3 * hidden] = 0.0
    return half, offset


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
    for t in range(T):
        y = gx[t]  # (B, 4H)
        np.matmul(h, wt, out=rec)
        np.add(y, rec, out=y)
        np.multiply(y, half, out=y)
        np.tanh(y, out=y)
        np.multiply(y, half, out=y)
        np.add(y, offset, out=y)  # now [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)]
        np.multiply(c, y[:, H : 2 * H], out=c)
        np.multiply(y[:, :H], y[:, 2 * H : 3 * H], out=tmp)
        np.add(c, tmp, out=c)
        np.tanh(c, out=cell)
        h = out[t]
        np.multiply(cell, y[:, 3 * H :], out=h)
    hidden = mx.array(np.ascontiguousarray(out.transpose(1, 0, 2)))
    return hidden, mx.array(h), mx.array(c)
