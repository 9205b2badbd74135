"""One row times a large weight (a decoder step's output projection, an LSTM's recurrent product) on the BLAS's
GEMV, the same OpenBLAS that MLX's matmuls use: MLX calls sgemm, which repacks the whole weight on every call."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..fast_math import fast_math_active
from .blas_threads import mlx_blas_threads

_gemv: list = []  # [cblas_sgemv or None], looked up once

_gemm: list = []  # [cblas_sgemm or None]
_override: ContextVar[Callable | None] = ContextVar("mlx_audio_lab_blas_gemm_override", default=None)


_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enums


def _blas_gemv():
    """`cblas_sgemv` of the OpenBLAS that MLX's CPU matmuls resolve to, or None (another BLAS, or none)."""
    if not _gemv:
        from ... import _blas

        fn = None
        if _blas.status() == "openblas":
            fn = ctypes.CDLL(None).cblas_sgemv
            fn.restype = None
            i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
            fn.argtypes = [i, i, i, i, f, p, i, p, i, f, p, i]
        _gemv.append(fn)
    return _gemv[0]


def blas_gemm(raw: bool = False):
    """`cblas_sgemm` of the OpenBLAS that MLX's CPU matmuls resolve to, or None (another BLAS, or none). Inside
    `gemm_override(fn)` (and not `raw`: a caller that hands the function to C wants the BLAS's own), `fn`."""
    if not _gemm:
        from ... import _blas

        fn = None
        if _blas.status() == "openblas":
            fn = ctypes.CDLL(None).cblas_sgemm
            fn.restype = None
            i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
            fn.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
        _gemm.append(fn)
    override = None if raw or _gemm[0] is None else _override.get()
    return _gemm[0] if override is None else override


@contextmanager
def gemm_override(fn: Callable) -> Iterator[None]:
    """Within the block `blas_gemm()` gives `fn` (same arguments as cblas_sgemm) where it would give the BLAS's."""
    token = _override.set(fn)
    try:
        yield
    finally:
        _override.reset(token)


@contextmanager
def one_thread_of_blas_gemm():
    """`blas_gemm`'s OpenBLAS (MLX's, not numpy's bundled one) on one thread within the block: for callers that
    run its sgemm on several threads of their own (two callers each waking its thread pool fight over it)."""
    with mlx_blas_threads(1, blas_gemm(raw=True) is not None):
        yield


def project(x: mx.array, weight: mx.array) -> mx.array:
    """x (..., K) @ weight (N, K)^T. On the CPU one float32 row goes to the BLAS's GEMV on a zero-copy view
    of `weight` (this waits for `x`); otherwise MLX's matmul."""
    N, K = weight.shape
    gemv = _blas_gemv() if x.size == K and fast_math_active(weight.size) else None
    if gemv is None or x.dtype != mx.float32 or weight.dtype != mx.float32:
        return x @ weight.T
    w = np.asarray(weight)
    if not w.flags.c_contiguous:
        return x @ weight.T
    row = np.ascontiguousarray(np.asarray(x).reshape(-1))
    out = np.empty(N, np.float32)
    gemv(_ROW_MAJOR, _NO_TRANS, N, K, 1.0, w.ctypes.data, K, row.ctypes.data, 1, 0.0, out.ctypes.data, 1)
    return mx.array(out).reshape(*x.shape[:-1], N)


def tied_logits(x: mx.array, embedding: nn.Module) -> mx.array:
    """`embedding.as_linear(x)`, the output projection tied to a token embedding; a float `nn.Embedding`
    goes through `project` (quantized embeddings keep their own `as_linear`)."""
    if type(embedding) is nn.Embedding:
        return project(x, embedding.weight)
    return embedding.as_linear(x)
