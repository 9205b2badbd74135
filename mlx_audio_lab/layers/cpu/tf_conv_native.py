"""The time-frequency conv kernels of `tf_conv_kernels.c` (convs over (B, T, F, C) maps, causal in time, 'same'
in frequency, bias and ReLU in the same pass), built with the system C compiler and called through ctypes.

Built by `cbuild.CKernel` (`tf_conv_native.main()` from .ci/setup, or the first use); without a compiler, on a
build failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and the functions return None: the callers
keep their MLX paths. The calls evaluate their inputs and write into a fresh MLX array; they release the GIL.
"""

from __future__ import annotations

import ctypes
import sys

import mlx.core as mx
import numpy as np

from .cbuild import CKernel

_P, _N = ctypes.c_void_p, ctypes.c_long
KERNEL = CKernel("tf_conv_kernels.c", {
    "tf_dense_conv_f32": ([_P] * 4 + [_N] * 10, None),
    "tf_separable_conv_f32": ([_P] * 5 + [_N] * 9, None),
})
LANES, MAX_CHANNELS = 16, 128  # output (and the separable kernel's input) channels: multiples of 16, at most 128


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None (no compiler, a failed build, MLX_AUDIO_LAB_NO_NATIVE=1: see `cbuild`)."""
    return KERNEL.library()


def _fits(channels: int) -> bool:
    return channels % LANES == 0 and 0 < channels <= MAX_CHANNELS


def _host(a: mx.array) -> np.ndarray:
    """A C-contiguous float32 NumPy view (or copy) of an MLX array (evaluates it)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def _output(shape: tuple[int, ...]) -> tuple[mx.array | None, np.ndarray]:
    """A fresh evaluated MLX float32 array and a writable NumPy view of its buffer (the kernel writes in place)."""
    y = mx.zeros(shape, mx.float32)
    mx.eval(y)
    view = np.asarray(y)
    if not view.flags.writeable or view.size != y.size:  # MLX lends its buffer writable; else copy back after
        return None, np.empty(shape, np.float32)
    return y, view


def dense_conv(x: mx.array, w: mx.array, b: mx.array, stride_f: int = 1, relu: bool = False) -> mx.array | None:
    """x (B, T, F, C) conv weight (out, kT, kF, C) plus bias (out,) (ReLU if `relu`) -> (B, T, Fo, out); None
    where the kernel is missing or the output channels do not fit (a multiple of 16, at most 128)."""
    out, kt, kf, c = w.shape
    lib = library()
    if lib is None or not _fits(out) or x.shape[-1] != c:
        return None
    B, T, F, _ = x.shape
    fo = (F - 1) // stride_f + 1
    xs, wk, bs = _host(x), _host(w.transpose(1, 2, 3, 0)), _host(b)  # weight (kT, kF, C, out)
    y, view = _output((B, T, fo, out))
    lib.tf_dense_conv_f32(xs.ctypes.data, wk.ctypes.data, bs.ctypes.data, view.ctypes.data, B, T, F, c, out, kt, kf,
                          stride_f, fo, int(relu))
    return mx.array(view) if y is None else y


def separable_conv(x: mx.array, w_depth: mx.array, w_point: mx.array, b: mx.array, stride_f: int = 1,
                   transposed: bool = False) -> mx.array | None:
    """ReLU(1x1 conv (w_point (out, 1, 1, C), b) of the depthwise frequency conv (w_depth (C, 1, kF, 1)) of x
    (B, T, F, C)) -> (B, T, Fo, out); `transposed`: the depthwise conv is the transposed one of stride 2 (kF 3,
    padding 1, output padding 1: Fo = 2F). None where the kernel is missing or the channels do not fit."""
    c, kt, kf, per = w_depth.shape
    out = w_point.shape[0]
    lib = library()
    if lib is None or kt != 1 or per != 1 or not (_fits(c) and _fits(out)) or x.shape[-1] != c \
            or (transposed and (kf != 3 or stride_f != 1)):
        return None
    B, T, F, _ = x.shape
    fo = 2 * F if transposed else (F - 1) // stride_f + 1
    xs, wd = _host(x), _host(w_depth[:, 0, :, 0].T)  # (kF, C)
    wp, bs = _host(w_point[:, 0, 0, :].T), _host(b)  # (C, out)
    y, view = _output((B, T, fo, out))
    lib.tf_separable_conv_f32(xs.ctypes.data, wd.ctypes.data, wp.ctypes.data, bs.ctypes.data, view.ctypes.data, B,
                              T, F, c, out, kf, stride_f, fo, int(transposed))
    return mx.array(view) if y is None else y


def main() -> int:
    """Build the kernels and say where they are (0), or why not (1)."""
    return KERNEL.main("the MLX conv paths run")


if __name__ == "__main__":
    sys.exit(main())
