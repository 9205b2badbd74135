"""Element-wise activations over large float32 arrays on numpy's SIMD loops (AVX-512 / AVX2 `exp`), split over
the cores: MLX's CPU back end evaluates `exp` one scalar at a time, and the multiply-add `exp` of
`fast_math.fast_exp` still takes six passes over memory (EnCodec's ELU over 10 s x 32 channels at 24 kHz:
MLX 100 ms, PyTorch 32 ms, here 34 ms on one thread).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx
import numpy as np

SPLIT_SIZE = 1 << 20  # arrays from here on are cut in one slice per worker
_pool: list[ThreadPoolExecutor] = []


def _workers() -> ThreadPoolExecutor:
    """Two threads (numpy releases the GIL inside its loops), made once."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(2, thread_name_prefix="mlx_audio_lab-elementwise"))
    return _pool[0]


def _elu_slice(x: np.ndarray, out: np.ndarray) -> None:
    """ELU (alpha 1) of a flat slice into `out`: max(x, 0) + (exp(min(x, 0)) - 1)."""
    neg = np.minimum(x, 0.0)
    np.exp(neg, out=neg)
    neg -= 1.0
    np.maximum(x, 0.0, out=out)
    out += neg


def elu(x: mx.array) -> mx.array:
    """ELU (alpha 1) of a float32 array: x for x > 0, exp(x) - 1 below (evaluates `x`)."""
    flat = np.asarray(x).reshape(-1)
    out = np.empty_like(flat)
    if flat.size < SPLIT_SIZE:
        _elu_slice(flat, out)
    else:
        half = flat.size // 2
        jobs = [_workers().submit(_elu_slice, flat[s], out[s]) for s in (slice(0, half), slice(half, None))]
        for j in jobs:
            j.result()
    return mx.array(out.reshape(x.shape))
