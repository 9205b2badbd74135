"""The direct conv kernels of `conv_kernels.c`, built with the system C compiler and called through ctypes.

Built by `cbuild.CKernel` (`native.main()` from .ci/setup, or the first use); without a compiler, on a build
failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and the callers keep their MLX / BLAS paths. The
calls release the GIL, so Python threads split the time axis over the cores.
"""

from __future__ import annotations

import ctypes
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx
import numpy as np

from .cbuild import OFF_ENV, CKernel  # noqa: F401  (OFF_ENV: callers and tests name it here)

DENSE_MAX_OUT = 32  # output channels up to which the direct dense kernel beats the BLAS products at any size
DENSE_WIDE_MAX_OUT = 192  # up to these, where the reordered weight stays in L2 (DENSE_MAX_WEIGHT floats), too
DENSE_MAX_WEIGHT = 420_000  # k * C_in * C_out (padded to 16): 192 -> 192 k7 won 1.7x, k11 1.1x (405k floats),
# 256 -> 256 k7 lost 1.4x (459k), 384 -> 384 k7 lost 2.6x
DOT_MAX_OUT = 4  # fewer: undilated convs as dot products along the contiguous window (no 16-wide output tile)
MIN_THREADED = 1 << 18  # multiply-adds below which one thread does the whole call

_pool: list = []  # [(pid, ThreadPoolExecutor)]


_P, _N = ctypes.c_void_p, ctypes.c_long
KERNEL = CKernel("conv_kernels.c", {
    "depthwise_conv1d_f32": ([_P, _P, _P] + [_N] * 7, None),
    "dense_conv1d_f32": ([_P, _P, _P, _P] + [_N] * 12, None),
    "window_dot_conv1d_f32": ([_P, _P, _P, _P] + [_N] * 8, None),
    "snake_antialias_f32": ([_P, _P, _N, _N, _P, _P, _N, _P, _N, _P, _N, _P, _P, _P, _N, _N, _N], None),
    "snake_f32": ([_P, _P, _N, _P, _P, _N, _N], None),
    "pad_act_f32": ([_P, _P] + [_N] * 7, None),
})


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None (no compiler, a failed build, MLX_AUDIO_LAB_NO_NATIVE=1: see `cbuild`)."""
    return KERNEL.library()


def _threads() -> int:
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(8, os.cpu_count() or 1))


def _split(call, out_len: int, work: int) -> None:
    """call(t0, t1) over [0, out_len), in one chunk per core when the work is large enough."""
    n = _threads() if work >= MIN_THREADED else 1
    if n == 1 or out_len < 2 * n:
        call(0, out_len)
        return
    if not _pool or _pool[0][0] != os.getpid():  # a forked child inherits the pool without its threads
        _pool[:] = [(os.getpid(), ThreadPoolExecutor(n, thread_name_prefix="conv"))]
    bounds = [out_len * i // n for i in range(n + 1)]
    list(_pool[0][1].map(lambda i: call(bounds[i], bounds[i + 1]), range(n)))


def _output(shape: tuple[int, ...]) -> tuple[mx.array | None, np.ndarray]:
    """A fresh evaluated MLX float32 array and a writable NumPy view of its buffer: the kernels write the result in
    place (no copy of a NumPy result into MLX: ~7 ms for 24 channels x 240,000 frames)."""
    y = mx.zeros(shape, mx.float32)
    mx.eval(y)
    view = np.asarray(y)
    if not view.flags.writeable or view.size != y.size:  # never seen: MLX lends its buffer writable
        view = np.empty(shape, np.float32)
        return None, view
    return y, view


def _result(y: mx.array | None, view: np.ndarray) -> mx.array:
    return mx.array(view) if y is None else y


def depthwise_conv1d(x: mx.array, weight: mx.array, padding: int = 0, dilation: int = 1) -> mx.array:
    """A stride-1 depthwise conv1d (weight (C, k, 1)), float32, on the direct kernel. Evaluates `x`."""
    lib = library()
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    taps = np.ascontiguousarray(np.asarray(weight, dtype=np.float32)[:, :, 0].T)  # (k, C)
    B, T, C = xs.shape
    k = taps.shape[0]
    out_len = T + 2 * padding - dilation * (k - 1)
    out, y = _output((B, out_len, C))
    for b in range(B):
        xb, yb = xs[b].ctypes.data, y[b].ctypes.data
        _split(lambda t0, t1, xb=xb, yb=yb: lib.depthwise_conv1d_f32(xb, taps.ctypes.data, yb, T, C, k, dilation,
                                                                     padding, t0, t1), out_len, out_len * C * k)
    return _result(out, y)


def dense_wins(c_in: int, c_out: int, k: int) -> bool:
    """Whether the direct dense kernel beats the per-tap BLAS products for this conv (measured, 2 cores: see
    README's CPU notes); the kernels must be built (`library()`)."""
    padded = -(-c_out // 16) * 16
    return c_out <= DENSE_MAX_OUT or (c_out <= DENSE_WIDE_MAX_OUT and k * c_in * padded <= DENSE_MAX_WEIGHT)


def register_block(padded_out: int) -> tuple[int, int]:
    """(output tiles of 16, frames) per register block of the dense kernel for C_out padded to a multiple of 16:
    24 accumulators of the 32 AVX-512 registers, a few tiles by many frames (fewer weight loads per FMA)."""
    tiles = padded_out // 16
    return (1, 16) if tiles == 1 else (4, 6) if tiles % 4 == 0 else (3, 8)


WEIGHT_CACHE = 64  # reordered conv weights kept (one model's convs)
_weights: dict[tuple[int, int, bool], tuple[mx.array, np.ndarray]] = {}


def _reordered(weight: mx.array, op: int, dot: bool, cache: bool = True) -> np.ndarray:
    """The weight as the kernels read it: (O, k * C) for the window dot products, else (k, C, op) with the outputs
    zero-padded to op; reordered once per MLX array object (a parameter; its id is not reused while cached)."""
    key = (id(weight), op, dot)
    hit = _weights.get(key)
    if hit is not None and hit[0] is weight:
        return hit[1]
    w = np.asarray(weight, dtype=np.float32)
    O, k, C = w.shape
    if dot:
        wt = np.ascontiguousarray(w.reshape(O, k * C))
    else:
        wt = np.zeros((k, C, op), np.float32)
        wt[:, :, :O] = w.transpose(1, 2, 0)
    if not cache:
        return wt
    if len(_weights) >= WEIGHT_CACHE:
        _weights.pop(next(iter(_weights)))  # the oldest entry
    _weights[key] = (weight, wt)
    return wt


def dense_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
                 block: tuple[int, int] | None = None, bias: mx.array | None = None, cache: bool = True) -> mx.array:
    """A dense conv1d (groups 1), float32, on the direct kernels: for few output channels, where a BLAS product
    (N = C_out) runs far below its peak; `bias` (C_out,) added in the kernel (no pass of its own); `cache`: keep
    the reordered weight for the next call with this weight array (False for a weight made per call). Evaluates
    `x`."""
    lib = library()
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    B, T, C = xs.shape
    O, k, _ = weight.shape
    out_len = (T + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out, y = _output((B, out_len, O))
    dot = O <= DOT_MAX_OUT and dilation == 1
    op = O if dot else -(-O // 16) * 16
    wt = _reordered(weight, op, dot, cache)
    b = np.zeros(op, np.float32)
    if bias is not None:
        b[:O] = np.asarray(bias, dtype=np.float32).reshape(-1)
    if dot:
        for i in range(B):
            xb, yb = xs[i].ctypes.data, y[i].ctypes.data
            _split(lambda t0, t1, xb=xb, yb=yb: lib.window_dot_conv1d_f32(xb, wt.ctypes.data, b.ctypes.data, yb, T, C,
                                                                          O, k, stride, padding, t0, t1),
                   out_len, out_len * O * k * C)
        return _result(out, y)
    nt, nf = block or register_block(op)
    for i in range(B):
        xb, yb = xs[i].ctypes.data, y[i].ctypes.data
        _split(lambda t0, t1, xb=xb, yb=yb: lib.dense_conv1d_f32(xb, wt.ctypes.data, b.ctypes.data, yb, T, C, O, op,
                                                                 k, stride, dilation, padding, nt, nf, t0, t1),
               out_len, out_len * op * k * C)
    return _result(out, y)


def snake(x: mx.array, alpha: mx.array, inv_scale: mx.array) -> mx.array:
    """x + inv_scale * sin^2(alpha x) for x (..., C), alpha and inv_scale (C,), float32, on the direct kernel (the
    sums of fast_math's compiled Snake, ~5x faster). Evaluates `x`."""
    lib = library()
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    a = np.ascontiguousarray(np.asarray(alpha, dtype=np.float32).reshape(-1))
    inv = np.ascontiguousarray(np.asarray(inv_scale, dtype=np.float32).reshape(-1))
    C = xs.shape[-1]
    rows = xs.size // C
    out, y = _output(xs.shape)
    _split(lambda t0, t1: lib.snake_f32(xs.ctypes.data, y.ctypes.data, C, a.ctypes.data, inv.ctypes.data, t0, t1),
           rows, rows * C * 16)
    return _result(out, y)


SNAKE_MAX_RATIO, SNAKE_MAX_SPAN = 4, 64  # the C kernel's bounds (conv_kernels.c: SNAKE_MAX_R, SNAKE_MAX_SPAN)


def snake_antialias(x: mx.array, alpha: mx.array, inv_scale: mx.array, up_plan: list[tuple[int, np.ndarray]],
                    up_pad: int, down_plan: tuple[int, int, list[tuple[int, int, float]]]) -> mx.array | None:
    """`Activation1d` with Snake on the direct kernel: x (B, T, C) unpadded, alpha and 1 / scale (C,), the
    upsampler's phase plan (its gain folded into the taps) and edge pad, the low-pass's phase plan; float32.
    None where the plan is outside the kernel's bounds (the caller keeps its MLX path). Evaluates `x`."""
    left, _right, terms = down_plan
    r, nu = len(up_plan), len(up_plan[0][1])
    offsets = [o for _, o, _ in terms]
    if r > SNAKE_MAX_RATIO or max(offsets) - min(offsets) > SNAKE_MAX_SPAN or any(len(h) != nu for _, h in up_plan):
        return None
    lib = library()
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    a = np.ascontiguousarray(np.asarray(alpha, dtype=np.float32))
    inv = np.ascontiguousarray(np.asarray(inv_scale, dtype=np.float32))
    up_h = np.ascontiguousarray(np.stack([(r * h).astype(np.float32) for _, h in up_plan]))
    up_off = np.array([start - up_pad for start, _ in up_plan], np.int64)
    t_s = np.array([s for s, _, _ in terms], np.int64)
    t_off = np.array(offsets, np.int64)
    t_h = np.array([h for _, _, h in terms], np.float32)
    B, T, C = xs.shape
    out, y = _output(xs.shape)
    for b in range(B):
        xb, yb = xs[b].ctypes.data, y[b].ctypes.data
        _split(lambda t0, t1, xb=xb, yb=yb: lib.snake_antialias_f32(
            xb, yb, T, C, a.ctypes.data, inv.ctypes.data, r, up_h.ctypes.data, nu, up_off.ctypes.data, len(terms),
            t_s.ctypes.data, t_off.ctypes.data, t_h.ctypes.data, left, t0, t1), T, T * C * 64)
    return _result(out, y)


PAD_MODES = {"constant": 0, "reflect": 1, "replicate": 2}


def pad_act(x: mx.array, left: int = 0, right: int = 0, mode: str = "constant", elu: bool = False) -> mx.array:
    """x (B, T, C) float32 padded in time by (left, right) rows (`mode`: constant zeros, reflect, replicate), with
    ELU (alpha 1) applied first if `elu`, in one pass on the direct kernel (reflect needs T > left and T > right:
    the caller checks). Evaluates `x`."""
    return pad_act_array(np.asarray(x, dtype=np.float32), left, right, mode, elu)


def pad_act_array(xs: np.ndarray, left: int = 0, right: int = 0, mode: str = "constant", elu: bool = False
                  ) -> mx.array:
    """`pad_act` of a float32 NumPy array (B, T, C) (a view of an MLX array: no copy when C-contiguous)."""
    lib = library()
    xs = np.ascontiguousarray(xs, dtype=np.float32)
    B, T, C = xs.shape
    rows = left + T + right
    out, y = _output((B, rows, C))
    for b in range(B):
        xb, yb = xs[b].ctypes.data, y[b].ctypes.data
        _split(lambda r0, r1, xb=xb, yb=yb: lib.pad_act_f32(xb, yb, T, C, left, PAD_MODES[mode], int(elu), r0, r1),
               rows, rows * C * (16 if elu else 1))
    return _result(out, y)


def main() -> int:
    """Build the kernels and say where they are (0), or why not (1)."""
    return KERNEL.main("the BLAS / MLX paths run")


if __name__ == "__main__":
    sys.exit(main())
