"""A whole GRU recurrence on the CPU in one C call (`gru_kernels.c`, where a compiler built it), else in one
tight numpy loop (the GRU sibling of `recurrence.py`'s LSTM scan).

The caller projects every frame's input at once (one matmul); here each step is numpy's one-row product
h W_hh^T on one BLAS thread plus in-place ufuncs for the gates, with no MLX graph built or evaluated per step.
Gate order (r, z, n) and PyTorch's cell: n = tanh(x_n + r * (W_hn h + b_hn)), h' = n + z * (h - n). The
sigmoids come from tanh: sigmoid(x) = (1 + tanh(x / 2)) / 2, the halving (exact in float32) folded into the
r and z rows of W_hh and of the inputs once, before the loop.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx
import numpy as np

from ..fast_math import fast_math_active
from . import gru_native
from .recurrence import one_blas_thread


def gru_scan_active(gates_x: mx.array, w_hh: mx.array) -> bool:
    """True when `gru_scan` applies: float32 on the CPU with the fast paths on, a recurrent weight worth it."""
    return (fast_math_active(max(w_hh.size, gates_x.size)) and gates_x.dtype == mx.float32
            and w_hh.dtype == mx.float32)


def gru_scan(gates_x: mx.array, w_hh: mx.array, b_hh: mx.array, h0: mx.array) -> tuple[mx.array, mx.array]:
    """The GRU recurrence over input pre-activations (B, T, 3H) (b_ih included), recurrent weight (3H, H),
    its bias (3H,), state (B, H) -> (hidden states (B, T, H), last h)."""
    B, T, G = gates_x.shape
    H = G // 3
    if gru_native.usable(H):  # the whole loop in one C call (gru_kernels.c)
        return _native_result(gru_native.scan(*_native_args(gates_x, w_hh, b_hh, h0)))
    bias = np.asarray(b_hh, np.float32)
    gx = np.array(gates_x, np.float32).transpose(1, 0, 2).copy()  # (T, B, 3H), updated in place step by step
    gx[..., : 2 * H] += bias[: 2 * H]  # r and z take both biases up front
    gx[..., : 2 * H] *= 0.5  # ... and the sigmoid's halving (exact), as does their recurrent weight:
    w = np.array(w_hh, np.float32)
    w[: 2 * H] *= 0.5
    wt = w.T  # a transposed view: numpy hands BLAS the flag, nothing is copied
    b_n = bias[2 * H :]
    h = np.array(h0, np.float32).reshape(B, H)
    out = np.empty((T, B, H), np.float32)
    rec = np.empty((B, G), np.float32)
    diff = np.empty((B, H), np.float32)
    with one_blas_thread():
        for t in range(T):
            y = gx[t]  # (B, 3H)
            np.matmul(h, wt, out=rec)
            rz = y[:, : 2 * H]
            np.add(rz, rec[:, : 2 * H], out=rz)
            np.tanh(rz, out=rz)
            np.multiply(rz, 0.5, out=rz)
            np.add(rz, 0.5, out=rz)  # [sigmoid(r), sigmoid(z)]
            n, hn = y[:, 2 * H :], rec[:, 2 * H :]
            np.add(hn, b_n, out=hn)
            np.multiply(hn, rz[:, :H], out=hn)
            np.add(n, hn, out=n)
            np.tanh(n, out=n)
            np.subtract(h, n, out=diff)
            np.multiply(diff, rz[:, H:], out=diff)
            np.add(n, diff, out=out[t])
            h = out[t]
    hidden = mx.array(np.ascontiguousarray(out.transpose(1, 0, 2)))
    return hidden, mx.array(h)


_pool: list = []  # [(pid, ThreadPoolExecutor)]


def _native_args(gates_x: mx.array, w_hh: mx.array, b_hh: mx.array, h0: mx.array) -> tuple[np.ndarray, ...]:
    """`gru_native.scan`'s arguments (evaluates the MLX inputs): gates (T, B, 3H), w_hh, b_hh, h0."""
    return (np.array(gates_x, np.float32).transpose(1, 0, 2), np.array(w_hh, np.float32),
            np.array(b_hh, np.float32), np.array(h0, np.float32))


def _native_result(out: np.ndarray) -> tuple[mx.array, mx.array]:
    hidden = mx.array(np.ascontiguousarray(out.transpose(1, 0, 2)))  # (B, T, H)
    return hidden, hidden[:, -1]


def gru_scans(jobs: list[tuple[mx.array, mx.array, mx.array, mx.array]]) -> list[tuple[mx.array, mx.array]]:
    """Independent recurrences, each `gru_scan`'s (gates_x, w_hh, b_hh, h0): with the C kernel, all at once, one
    thread each (the call releases the GIL; each core streams its own recurrent weight from its own cache). The
    input pre-activations are evaluated together first (at once where the caller built them on two streams)."""
    if len(jobs) < 2 or not all(gru_native.usable(w.shape[1]) for _, w, _, _ in jobs):
        return [gru_scan(*job) for job in jobs]
    mx.eval(*(gates_x for gates_x, *_ in jobs))  # at once where they were built on different streams
    args = [_native_args(*job) for job in jobs]
    if not _pool or _pool[0][0] != os.getpid():  # a forked child inherits the pool without its threads
        _pool[:] = [(os.getpid(), ThreadPoolExecutor(2, thread_name_prefix="gru"))]
    return [_native_result(out) for out in _pool[0][1].map(lambda a: gru_native.scan(*a), args)]
