"""The thread count of the OpenBLAS that MLX's CPU matmuls run on, set for a block of work.

OpenBLAS's worker threads spin after each product, waiting for the next (for 2^28 cycles by default), so a
model of many medium products on a 2-core machine keeps both cores busy for half the work: the spinning core is
taken from the model's own second thread (a recurrence, a second stream) and from other processes. DeepFilterNet3
on 10 s at load 2: 221 ms with two BLAS threads, 135 ms with one.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager

_fns: list = []  # [(get, set) of the global scope's openblas_{get,set}_num_threads, or None], looked up once


def _openblas_threads():
    """`(get, set)` of the thread count of the OpenBLAS that MLX's matmuls resolve to, or None."""
    if not _fns:
        from ... import _blas

        found = None
        if _blas.status() == "openblas":
            lib = ctypes.CDLL(None)
            try:
                get, set_ = lib.openblas_get_num_threads, lib.openblas_set_num_threads
                get.restype, get.argtypes, set_.argtypes = ctypes.c_int, [], [ctypes.c_int]
                found = (get, set_)
            except AttributeError:
                found = None
        _fns.append(found)
    return _fns[0]


@contextmanager
def mlx_blas_threads(n: int, active: bool = True) -> Iterator[None]:
    """Within this block MLX's CPU matmuls run on `n` OpenBLAS threads (nothing changes without OpenBLAS, or when
    not `active`); the count before is restored after. The results are the same (OpenBLAS splits rows and columns
    between its threads, never a sum)."""
    fns = _openblas_threads() if active else None
    if fns is None:
        yield
        return
    before = fns[0]()
    fns[1](n)
    try:
        yield
    finally:
        fns[1](before)
