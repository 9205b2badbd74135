"""The GRU recurrence of `gru_kernels.c`, built with the system C compiler and called through ctypes.

Built by `cbuild.CKernel` (`gru_native.main()` from .ci/setup, or the first use); without a compiler, on a
build failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and `gru.py` keeps its numpy loop.
The call releases the GIL.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

from .cbuild import CKernel

KERNEL = CKernel("gru_kernels.c", {"gru_scan_f32": ([ctypes.c_void_p] * 6 + [ctypes.c_long] * 4, None)})
LANES = 16  # the kernel's vector width in floats: the hidden size must be a multiple
BLOCK = 128  # gate rows per accumulator block (TILE * LANES in the kernel): the packed weight's tile width


def library() -> ctypes.CDLL | None:
    """The loaded kernel, or None (no compiler, a failed build, MLX_AUDIO_LAB_NO_NATIVE=1: see `cbuild`)."""
    return KERNEL.library()


def usable(hidden: int) -> bool:
    """True when the kernel is loaded and takes this hidden size."""
    return hidden % LANES == 0 and library() is not None


def scan(gx: np.ndarray, w_hh: np.ndarray, b_hh: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """gx (T, B, 3H) input pre-activations (b_ih included), w_hh (3H, H), b_hh (3H,), h0 (B, H) -> (T, B, H)."""
    T, B, G = gx.shape
    H = G // 3
    gx = np.ascontiguousarray(gx, np.float32)
    wp, b = pack(w_hh, b_hh)
    h = np.ascontiguousarray(h0, np.float32).reshape(B, H)
    out = np.empty((T, B, H), np.float32)
    acc = np.empty(b.size, np.float32)
    library().gru_scan_f32(gx.ctypes.data, wp.ctypes.data, b.ctypes.data, h.ctypes.data, out.ctypes.data,
                           acc.ctypes.data, T, B, H, b.size)
    return out


def pack(w_hh: np.ndarray, b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W_hh (3H, H) as the kernel streams it, (Gp / BLOCK, H, BLOCK) (zero rows from 3H up to Gp, a multiple of
    BLOCK), and b_hh padded to Gp: each block of gate rows is one contiguous run of memory."""
    G, H = w_hh.shape
    gp = -(-G // BLOCK) * BLOCK
    w = np.zeros((gp, H), np.float32)
    w[:G] = w_hh
    b = np.zeros(gp, np.float32)
    b[:G] = b_hh
    return np.ascontiguousarray(w.reshape(gp // BLOCK, BLOCK, H).transpose(0, 2, 1)), b


def main() -> int:
    """Build the kernel and say where it is (0), or why not (1)."""
    return KERNEL.main("the numpy loop runs")


if __name__ == "__main__":
    sys.exit(main())
