"""1-D convolutions with the slow cases of MLX's CPU kernel rewritten: kernel-1 convs as one matmul, depthwise
convs as shifted multiply-adds, dense convs (dilated ones too, taps d apart) as BLAS products (one per tap) on
strided views of the unpadded input (phase folding where no BLAS or few input channels), transposed convs as BLAS
products overlap-added in place. Depthwise convs and dense ones with few output channels or a small weight
(`native.dense_wins`) run on the direct kernels of `native.py` where they are built.
Channels-last: x (B, T, C), weight (C_out, k, C_in / groups), as `mx.conv1d`."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ..fast_math import fast_math_active
from ..gpu.grouped_conv import (
    depthwise_conv_transpose1d,
    gpu_depthwise_transposed_fits,
    gpu_grouped_conv_fits,
    grouped_conv1d,
)
from . import native
from .gemv import _NO_TRANS, _ROW_MAJOR, _TRANS, blas_gemm

NATIVE_TRANSPOSED_MAX_OUT = 128  # s * C_out up to which a transposed conv runs on the direct kernel (BigVGAN's
# 48 -> 24 k4 s2: 1.3 ms vs 3.7 on the BLAS; DAC's 192 -> 96 k4 s2, 192 polyphase outputs: 70 vs 59 ms)
TAP_SUM_MIN_CHANNELS = 8  # fewer input channels: MLX's own kernel is faster (EnCodec's 1 -> 32 first conv)


def phase_folded_conv1d(x: mx.array, weight: mx.array, dilation: int, padding: int, groups: int = 1) -> mx.array:
    """A stride-1 conv1d with dilation d computed as an undilated conv over the d interleaved time phases.

    Output t = m*d + r sums w_j x[(m + j)*d + r]: an ordinary conv over phase r. Same sums as the dilated conv
    (float32 rounding aside); MLX's CPU dilated conv1d is ~150x slower than its undilated one.
    """
    B, T, C = x.shape
    k = weight.shape[1]
    x = mx.pad(x, [(0, 0), (padding, padding + (-(T + 2 * padding)) % dilation), (0, 0)])
    n = x.shape[1] // dilation
    out_len = T + 2 * padding - dilation * (k - 1)
    phases = x.reshape(B, n, dilation, C).transpose(0, 2, 1, 3).reshape(B * dilation, n, C)
    y = conv1d(phases, weight, groups=groups)  # undilated: the tap-sum product where it applies
    m, O = y.shape[1], y.shape[2]
    return y.reshape(B, dilation, m, O).transpose(0, 2, 1, 3).reshape(B, m * dilation, O)[:, :out_len]


def pointwise_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0) -> mx.array:
    """A kernel-1 conv1d as one 2-D matmul over all frames (MLX's CPU conv copies its input first: ~2x slower)."""
    if padding:
        x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    if stride > 1:
        x = x[:, ::stride]
    B, T, C = x.shape
    return (x.reshape(B * T, C) @ weight.reshape(weight.shape[0], C).T).reshape(B, T, -1)


_shifted_sums: dict[tuple[int, int], object] = {}


def _shifted_sum(k: int, dilation: int):
    """sum_j x[:, j*d : j*d + L] * taps[j] for one (k, d), compiled once: MLX fuses the k shifted multiply-adds
    into one pass over memory (5x faster than k separate ones; PyTorch's depthwise conv is 2x slower)."""
    if (k, dilation) not in _shifted_sums:
        def shifted_sum(x: mx.array, taps: mx.array) -> mx.array:
            length = x.shape[1] - dilation * (k - 1)
            y = x[:, :length] * taps[0]
            for j in range(1, k):
                y = y + x[:, j * dilation : j * dilation + length] * taps[j]
            return y

        _shifted_sums[(k, dilation)] = mx.compile(shifted_sum)
    return _shifted_sums[(k, dilation)]


def depthwise_conv1d(x: mx.array, weight: mx.array, padding: int = 0, dilation: int = 1) -> mx.array:
    """A stride-1 depthwise conv1d (groups = channels, weight (C, k, 1)) as k shifted multiply-adds, fused."""
    if padding:
        x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    return _shifted_sum(weight.shape[1], dilation)(x, weight[:, :, 0].T)  # taps (k, C)


def _interior(length: int, span: int, stride: int, padding: int, out_len: int) -> tuple[int, int]:
    """Outputs [lo, hi) whose window (span input frames) lies wholly inside the unpadded input."""
    lo = min(out_len, -(-padding // stride))
    return lo, max(lo, min(out_len, (length + padding - span) // stride + 1))


def _edge_outputs(xs: np.ndarray, ws: np.ndarray, y: np.ndarray, frames: np.ndarray, stride: int, padding: int,
                  dilation: int, groups: int) -> None:
    """y[:, frames] for the few outputs whose window reaches into the zero padding: a small gathered patch each,
    through the same BLAS (numpy's own matmul would wake a second BLAS thread pool, whose spinning threads slow
    the next products)."""
    gemm = blas_gemm()
    B, T, C = xs.shape
    O, k, cg = ws.shape
    og, n = O // groups, len(frames)
    rows = frames[:, None] * stride - padding + np.arange(k) * dilation  # (n, k) input frames, some outside
    patch = np.where(((rows >= 0) & (rows < T))[None, :, :, None], xs[:, np.clip(rows, 0, T - 1)], 0.0)
    out = np.empty((n, og), np.float32)
    for b in range(B):
        for g in range(groups):  # (n, k * cg) @ (og, k * cg)^T
            part = np.ascontiguousarray(patch[b, :, :, g * cg:(g + 1) * cg], dtype=np.float32)
            gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, n, og, k * cg, 1.0, part.ctypes.data, k * cg,
                 ws.ctypes.data + 4 * g * og * k * cg, k * cg, 0.0, out.ctypes.data, og)
            y[b, frames, g * og:(g + 1) * og] = out


def _gemm_conv1d(x: mx.array, weight: mx.array, stride: int, padding: int, dilation: int, groups: int,
                 per_phase: bool) -> mx.array:
    """The dense conv1d on BLAS products over strided views of the unpadded input; the outputs that reach into the
    padding are computed apart, so the input is never padded or copied. Evaluates `x`."""
    gemm = blas_gemm()
    xs, ws = np.ascontiguousarray(np.asarray(x)), np.ascontiguousarray(np.asarray(weight))
    B, T, C = xs.shape
    O, k, cg = ws.shape
    og, span = O // groups, (k - 1) * dilation + 1
    out_len = (T + 2 * padding - span) // stride + 1
    y = np.empty((B, out_len, O), np.float32)
    lo, hi = _interior(T, span, stride, padding, out_len)
    start = 4 * (lo * stride - padding) * C  # byte offset of output lo's first input frame
    phases = -(-k // stride)
    for b in range(B):
        a, c = xs[b].ctypes.data + start, y[b].ctypes.data + 4 * lo * O
        if per_phase:  # frames lo + r, lo + r + P, ...: (m, k*C; row step P*s*C) @ (O, k*C)^T, row step P*O
            for r in range(min(phases, hi - lo)):
                m = (hi - lo - 1 - r) // phases + 1
                gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, m, O, k * C, 1.0, a + 4 * r * stride * C, phases * stride * C,
                     ws.ctypes.data, k * C, 0.0, c + 4 * r * O, phases * O)
            continue
        for g in range(groups):  # C (m, og) (+)= A (m, cg; row step s*C) @ W_gj^T (og x cg, row step k*cg)
            for j in range(k if hi > lo else 0):
                gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, hi - lo, og, cg, 1.0, a + 4 * (j * dilation * C + g * cg),
                     stride * C, ws.ctypes.data + 4 * (g * og * k + j) * cg, k * cg, 1.0 if j else 0.0,
                     c + 4 * g * og, O)
    edges = np.r_[0:lo, hi:out_len]
    if len(edges):
        _edge_outputs(xs, ws, y, edges, stride, padding, dilation, groups)
    return mx.array(y)


def tap_sum_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, groups: int = 1,
                   dilation: int = 1) -> mx.array:
    """A conv1d as k BLAS products per group accumulated in place: y_g = sum_j x_g[t*s + j*d] @ W_gj^T.

    Each tap reads the input through a strided view (row step s * C, start j * d * C + its group's first
    channel) and the kernel through its own (row step k * C / groups), so nothing is copied: MLX's CPU kernel
    copies the input k times first (im2col), and a dilated conv needs no phase folding (two transposes).
    About 2x faster than MLX's kernel at codec shapes (Kokoro's 128 -> 128, k 7 at 4.8 kHz: 378 -> 191 ms;
    EnCodec's last 32 -> 1, k 7 at 24 kHz: 169 -> 31 ms). Evaluates `x`.
    """
    return _gemm_conv1d(x, weight, stride, padding, dilation, groups, per_phase=False)


def phase_gemm_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0) -> mx.array:
    """An undilated dense conv1d as one BLAS product per output phase, each over the whole kernel (K = k * C_in).

    Output frame t reads the k * C_in contiguous floats from row t * s of the channels-last input. Taking every
    P-th frame (P = ceil(k / s)) those windows do not overlap, so phase r is an ordinary matrix with row step
    P * s * C_in: y[r::P] = X_r @ W^T, written in place (row step P * C_out). Nothing is copied and every output
    is written once; `tap_sum_conv1d` accumulates k times. Evaluates `x`.
    """
    return _gemm_conv1d(x, weight, stride, padding, 1, 1, per_phase=True)


def conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
           groups: int = 1, bias: mx.array | None = None) -> mx.array:
    """`mx.conv1d` (same arguments and result), plus `bias` (C_out,) if given, with the slow cases of MLX's CPU
    kernel rewritten on the CPU (the direct dense kernel adds the bias as it writes: no pass of its own)."""
    # gate on the input or the weight: a short input through a large dilated kernel is slow too (BigVGAN's first
    # stage, 64 frames x 768 channels, k 11, dilation 5: 3.4 s in MLX's kernel, 0.15 s phase-folded)
    if fast_math_active(max(x.size, weight.size)):
        if weight.shape[1] == 1 and groups == 1:
            return _biased(pointwise_conv1d(x, weight, stride, padding), bias)
        f32 = x.dtype == mx.float32 and weight.dtype == mx.float32
        if groups > 1 and groups == x.shape[-1] == weight.shape[0] and stride == 1:
            if f32 and native.library() is not None:
                return _biased(native.depthwise_conv1d(x, weight, padding, dilation), bias)
            return _biased(depthwise_conv1d(x, weight, padding, dilation), bias)
        if (groups == 1 and f32 and native.dense_wins(x.shape[-1], weight.shape[0], weight.shape[1])
                and native.library() is not None and (bias is None or bias.dtype == mx.float32)):
            # few outputs or a small weight: BLAS runs slow
            return native.dense_conv1d(x, weight, stride, padding, dilation, bias=bias)
        if x.shape[-1] // groups >= TAP_SUM_MIN_CHANNELS and f32 and blas_gemm() is not None:
            # per-tap products: the per-phase ones (`phase_gemm_conv1d`) measured no faster on 2 cores; dilated
            # ones with taps d apart, no phase folding (one core, CPU time: 256 -> 256 k7 d3 52 vs 64 ms, 512 k7 d9
            # 27 vs 34, 768 k7 d3 157 vs 167: the folding's two transposes cost more than they save)
            return _biased(tap_sum_conv1d(x, weight, stride, padding, groups, dilation), bias)
        if dilation > 1 and stride == 1:  # then MLX's undilated kernel (few input channels, or no BLAS)
            return _biased(phase_folded_conv1d(x, weight, dilation, padding, groups), bias)
    if gpu_grouped_conv_fits(x, weight, groups):  # CUDA: one kernel where MLX runs a GEMM per group
        return grouped_conv1d(x, weight, stride, padding, dilation, groups, bias)
    y = mx.conv1d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return _biased(y, bias)


def pointwise_sum(terms: list[tuple[mx.array, mx.array]], bias: mx.array | None = None,
                  residual: mx.array | None = None) -> mx.array:
    """residual + sum_i x_i @ w_i^T + bias for kernel-1 convs x_i (B, T, C_i), w_i (O, 1, C_i) of one output
    (a SEANet resnet block's last conv and its shortcut): the output filled once with the bias (and residual),
    every product accumulated into it on MLX's BLAS (beta 1), so no pass of its own per bias or sum. float32;
    needs `blas_gemm()` and the direct kernels' output buffers (`native`). Evaluates the inputs."""
    gemm = blas_gemm()
    B, T, _ = terms[0][0].shape
    O = terms[0][1].shape[0]
    out, y = native._output((B, T, O))
    rows = y.reshape(B * T, O)
    if residual is not None:
        np.add(np.asarray(residual, dtype=np.float32).reshape(B * T, O),
               0.0 if bias is None else np.asarray(bias, dtype=np.float32), out=rows)
    else:
        rows[:] = 0.0 if bias is None else np.asarray(bias, dtype=np.float32)
    for x, w in terms:
        xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32)).reshape(B * T, -1)
        ws = np.ascontiguousarray(np.asarray(w, dtype=np.float32)).reshape(O, -1)
        C = xs.shape[1]
        gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, B * T, O, C, 1.0, xs.ctypes.data, C, ws.ctypes.data, C, 1.0,
             rows.ctypes.data, O)
    return native._result(out, y)


def _biased(y: mx.array, bias: mx.array | None) -> mx.array:
    return y if bias is None else y + bias


def overlap_add_conv_transpose1d(x: mx.array, weight: mx.array, stride: int, groups: int = 1) -> mx.array:
    """The full transposed conv (no padding): each frame times the kernel gives k samples, overlap-added.

    Input frame t lands on outputs t*s .. t*s + k - 1; with the kernel zero-padded to q*s taps that is q blocks
    of s samples, block j shifted j frames: one matmul (or, depthwise, one product) and q shifted adds.
    MLX's CPU `conv_transpose1d` is ~150x slower at codec sizes. Returns (B, (T + q - 1) * s, C_out).
    """
    B, T, C = x.shape
    O, k, _ = weight.shape
    q = -(-k // stride)
    if q * stride > k:
        weight = mx.pad(weight, [(0, 0), (0, q * stride - k), (0, 0)])
    if groups == 1:
        if weight.size < B * T * q * stride * O:  # lay out the (smaller) weight so the product needs no transpose
            w = weight.reshape(O, q * stride, C).transpose(1, 0, 2).reshape(q * stride * O, C)
            z = (x.reshape(B * T, C) @ w.T).reshape(B, T, q, stride, O)
        else:
            z = (x.reshape(B * T, C) @ weight.reshape(O * q * stride, C).T).reshape(B, T, O, q, stride)
            z = z.transpose(0, 1, 3, 4, 2)
    else:  # depthwise: out channel c = in channel c times its own kernel
        z = (x[:, :, None, :] * weight[:, :, 0].T).reshape(B, T, q, stride, O)
    y = z[:, :, 0]
    if q > 1:
        y = sum((mx.pad(z[:, :, j], [(0, 0), (j, q - 1 - j), (0, 0), (0, 0)]) for j in range(1, q)),
                mx.pad(y, [(0, 0), (0, q - 1), (0, 0), (0, 0)]))
    return y.reshape(B, (T + q - 1) * stride, O)


def gemm_conv_transpose1d(x: mx.array, weight: mx.array, stride: int, bias: mx.array | None = None) -> mx.array:
    """`overlap_add_conv_transpose1d` for a dense float32 conv on the BLAS, overlap-added in place.

    Tap j*s + i sends input frame t to output sample (t + j) * s + i. A long input through a small weight: one
    product per block of s taps, X (T, C) @ W_j^T (s * C_out, C) accumulated into the output viewed as
    (T + q - 1, s * C_out) from row j (the weight reordered once). A large weight: one product per tap on a view
    of the weight as it is (row step k * C), into every s-th output row. No (T, q, s, C_out) intermediate and no
    shifted copies. `bias` (C_out,): the output starts from it (every product accumulates). Evaluates `x`.
    """
    gemm = blas_gemm()
    B, T, C = x.shape
    O, k, _ = weight.shape
    q = -(-k // stride)
    n = stride * O
    xs = np.ascontiguousarray(np.asarray(x))
    y = np.empty((B, T + q - 1, n), np.float32)
    if bias is not None:
        y[:] = np.tile(np.asarray(bias, dtype=np.float32).reshape(-1), stride)  # sample i * O + o: bias[o]
    else:
        y[:, T:] = 0.0
    first = 0.0 if bias is None else 1.0  # beta of the products that write rows first
    if weight.size <= T * C:  # reorder the weight to (q, s, O, C): one product per block of s taps
        if q * stride > k:
            weight = mx.pad(weight, [(0, 0), (0, q * stride - k), (0, 0)])
        ws = np.ascontiguousarray(np.asarray(weight).reshape(O, q, stride, C).transpose(1, 2, 0, 3))
        for b in range(B):
            for j in range(q):  # rows j .. j + T - 1 (+)= (T, C) @ (s*O, C)^T
                gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, T, n, C, 1.0, xs[b].ctypes.data, C, ws[j].ctypes.data, C,
                     1.0 if j else first, y[b].ctypes.data + 4 * j * n, n)
    else:
        ws = np.ascontiguousarray(np.asarray(weight))
        if k < stride and bias is None:  # no tap writes samples t * s + i for i >= k: zeros
            y.reshape(B, T, stride, O)[:, :, k:] = 0.0
        for b in range(B):
            for tap in range(k):  # samples (t + j) * s + i (+)= (T, C) @ W[:, tap, :]^T, row step s * O
                j, i = divmod(tap, stride)
                gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, T, O, C, 1.0, xs[b].ctypes.data, C, ws.ctypes.data + 4 * tap * C,
                     k * C, 1.0 if j else first, y[b].ctypes.data + 4 * (j * n + i * O), n)
    return mx.array(y.reshape(B, (T + q - 1) * stride, O))


def polyphase_weight(weight: mx.array, stride: int) -> mx.array:
    """A transposed conv's weight (C_out, k, C_in) as an ordinary conv's (s * C_out, q, C_in), q = ceil(k / s):
    output channel i * C_out + o, tap q - 1 - j holds the transposed conv's tap j * s + i (zero past k)."""
    O, k, C = weight.shape
    q = -(-k // stride)
    if q * stride > k:
        weight = mx.pad(weight, [(0, 0), (0, q * stride - k), (0, 0)])
    return weight.reshape(O, q, stride, C)[:, ::-1].transpose(2, 0, 1, 3).reshape(stride * O, q, C)


def native_conv_transpose1d(x: mx.array, weight: mx.array, stride: int, bias: mx.array | None = None) -> mx.array:
    """The full transposed conv (no padding) as one ordinary conv on the direct kernel: frame m of the s * C_out
    polyphase outputs sums x[m - j] through taps j * s + i, i.e. a conv of the (q - 1)-padded input with the
    reversed polyphase weight; (T + q - 1, s, C_out) read as ((T + q - 1) * s, C_out); `bias` (C_out,) added in
    the kernel (each phase's copy). Evaluates `x`."""
    B, T, _ = x.shape
    O, k, _ = weight.shape
    q = -(-k // stride)
    tiled = None if bias is None else mx.tile(bias.reshape(-1), stride)  # polyphase output i * O + o: bias[o]
    y = native.dense_conv1d(x, polyphase_weight(weight, stride), 1, q - 1, 1, bias=tiled, cache=False)
    # y: (B, T + q - 1, s * O)
    return y.reshape(B, (T + q - 1) * stride, O)


def conv_transpose1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
                     output_padding: int = 0, groups: int = 1, bias: mx.array | None = None) -> mx.array:
    """`mx.conv_transpose1d` (same arguments and result), plus `bias` (C_out,) if given; on the CPU computed by
    `overlap_add_conv_transpose1d` or its BLAS / direct-kernel forms (these two start from the bias)."""
    O, k, c_per_group = weight.shape
    depthwise = groups == x.shape[-1] == O and c_per_group == 1
    # any size: MLX's CPU kernel is slow even for a short input when the weight is large (Mimi's, SNAC's first
    # upsampler: 50 frames x 1024 channels, 0.87 s vs 2 ms)
    if depthwise and gpu_depthwise_transposed_fits(x, weight, groups):  # CUDA: one kernel, not a GEMM per channel
        return depthwise_conv_transpose1d(x, weight, stride, padding, dilation, output_padding, bias)
    if not fast_math_active() or dilation != 1 or (groups != 1 and not depthwise):
        return _biased(mx.conv_transpose1d(x, weight, stride=stride, padding=padding, dilation=dilation,
                                           output_padding=output_padding, groups=groups), bias)
    q = -(-k // stride)
    f32 = x.dtype == weight.dtype == mx.float32
    length = (x.shape[1] - 1) * stride - 2 * padding + k + output_padding
    # the bias inside the products where no zero rows are appended below and it is float32, else added after
    inner = bias if (bias is not None and bias.dtype == mx.float32 and f32 and groups == 1
                     and padding + length <= (x.shape[1] + q - 1) * stride) else None
    if (groups == 1 and f32 and stride * O <= NATIVE_TRANSPOSED_MAX_OUT
            and native.dense_wins(x.shape[-1], stride * O, q) and native.library() is not None):
        y = native_conv_transpose1d(x, weight, stride, inner)
    elif groups == 1 and f32 and blas_gemm() is not None:
        y = gemm_conv_transpose1d(x, weight, stride, inner)
    else:
        y, inner = overlap_add_conv_transpose1d(x, weight, stride, groups), None
    if padding + length > y.shape[1]:  # output_padding reaches past the last tap: zeros
        y = mx.pad(y, [(0, 0), (0, padding + length - y.shape[1]), (0, 0)])
    y = y[:, padding : padding + length]
    return y if inner is not None else _biased(y, bias)
