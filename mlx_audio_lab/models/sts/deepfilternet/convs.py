"""DeepFilterNet3's convolutions over (B, T, F, C) maps, causal in time and 'same' in frequency, with the CPU fast
paths that replace MLX's slow CPU conv, pad and concatenate for these shapes (each tested against the plain path).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ....layers.cpu import elementwise
from ....layers.fast_math import fast_math_active


def dense(w: mx.array, groups: int) -> mx.array:
    """Grouped conv weight (out, kT, kF, in / groups) -> the equal dense one (out, kT, kF, in), zeros off-group."""
    if groups == 1:
        return w
    out, kt, kf, per = w.shape
    blocks = w.reshape(groups, out // groups, kt, kf, 1, per)
    eye = mx.eye(groups, dtype=w.dtype).reshape(groups, 1, 1, 1, groups, 1)
    return (blocks * eye).reshape(out, kt, kf, groups * per)


def conv(x: mx.array, w: mx.array, b: mx.array | None = None, stride_f: int = 1, groups: int = 1) -> mx.array:
    """(B, T, F, C) conv with weight (out, kT, kF, in / groups): causal in time, 'same' in frequency.

    MLX's CPU grouped conv is slow for these shapes (0.3 s for the first complex-spectrum conv on 2 s), so:
    depthwise convs are a multiply-add per kernel tap of shifted (strided) inputs, 1x1 convs a matmul, and the
    other grouped convs the equal dense conv (zeros off-group): with the CPU fast paths on, one matmul over the
    kernel taps' shifted inputs side by side (im2col) or one projection per tap summed shifted, else MLX's conv2d.
    The fast paths also skip padded copies of x (MLX's CPU pads and concatenations are slow).
    """
    out, kt, kf, per = w.shape
    fast = fast_math_active(x.size * kt * kf) and x.dtype == mx.float32
    depthwise = per == 1 and x.shape[-1] == out
    if fast and depthwise:
        y = _depthwise_fused(x, w, stride_f)
        return y if b is None else y + b
    if fast and not (kt == kf == 1) and stride_f == 1 and x.shape[-1] * kt * kf > 64:
        y = _projected_taps(x, dense(w, groups))
        return y if b is None else y + b
    if kt > 1:  # (MLX's pad copies even when it pads nothing)
        x = mx.pad(x, [(0, 0), (kt - 1, 0), (0, 0), (0, 0)])  # causal in time
    t, f = x.shape[1] - kt + 1, x.shape[2]
    if depthwise:
        if kf > 1:
            x = mx.pad(x, [(0, 0), (0, 0), (kf // 2, kf // 2), (0, 0)])
        y = sum(x[:, i:i + t, j:j + f:stride_f, :] * w[:, i, j, 0] for i in range(kt) for j in range(kf))
    elif kt == kf == 1 and groups == 1:
        y = x @ w[:, 0, 0, :].T
    elif fast:
        y = _conv_as_matmul(x, dense(w, groups), t, f, stride_f)
    else:
        y = mx.conv2d(x, dense(w, groups), stride=(1, stride_f), padding=(0, kf // 2))
    return y if b is None else y + b


@mx.compile
def _sum(*xs: mx.array) -> mx.array:
    """x0 + x1 + ... in one fused loop (over strided views too), left to right."""
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y


def _projected_taps(x: mx.array, w: mx.array) -> mx.array:
    """A stride-1 dense conv of unpadded x (B, T, F, C) with many input channels: one matmul projects every tap at
    once, then each tap's projection is added shifted (causal in time, 'same' in frequency)."""
    out, kt, kf, cin = w.shape
    _, t, f, _ = x.shape
    # the weight made row-contiguous whatever its layout, so the product (and its rounding) is the same
    proj = x @ mx.contiguous(w.transpose(3, 1, 2, 0).reshape(cin, -1))  # (B, T, F, kT kF out)
    taps = [(proj[..., (i * kf + j) * out:(i * kf + j + 1) * out], i - (kt - 1), j - kf // 2)
            for i in range(kt) for j in range(kf)]
    return _shifted_sum(taps, t, f)


def _shifted_sum(taps: list[tuple[mx.array, int, int]], t: int, f: int) -> mx.array:
    """y[:, r, c] = sum over (P, dt, df) of P[:, r + dt, c + df] (zero outside P), y (B, t, f, C), dt <= 0.

    The interior block, where every tap lies inside, sums strided views in one compiled loop; only the thin
    borders (the first rows, the edge bins) sum zero-filled copies: MLX's CPU pads and concatenations are slow."""
    first = max(-dt for _, dt, _ in taps)  # rows from here on see every tap
    lo, hi = max(max(-df, 0) for *_, df in taps), max(max(df, 0) for *_, df in taps)

    def block(r0: int, r1: int, c0: int, c1: int, inside: bool) -> mx.array:
        if inside:
            return _sum(*(p[:, r0 + dt:r1 + dt, c0 + df:c1 + df] for p, dt, df in taps))
        return _sum(*(_shifted(_shifted(p, 1, r0 + dt, r1 - r0), 2, c0 + df, c1 - c0) for p, dt, df in taps))

    if first >= t or lo + hi >= f:
        return block(0, t, 0, f, False)
    row = [block(first, t, 0, lo, False)] if lo else []
    row.append(block(first, t, lo, f - hi, True))
    if hi:
        row.append(block(first, t, f - hi, f, False))
    rows = [block(0, first, 0, f, False)] if first else []
    rows.append(row[0] if len(row) == 1 else mx.concatenate(row, axis=2))
    return rows[0] if len(rows) == 1 else mx.concatenate(rows, axis=1)


@mx.compile
def _taps_sum(*pairs: mx.array) -> mx.array:
    """x0 * w0 + x1 * w1 + ... in one fused loop, summed in the plain path's order."""
    n = len(pairs) // 2
    y = pairs[0] * pairs[n]
    for i in range(1, n):
        y = y + pairs[i] * pairs[n + i]
    return y


def _shifted(x: mx.array, axis: int, start: int, n: int) -> mx.array:
    """x[start:start + n] along `axis`, zeros where that runs outside x (a view when it does not)."""
    left = min(max(-start, 0), n)  # zeros before x starts
    lo = min(max(start, 0), x.shape[axis])
    hi = max(min(start + n, x.shape[axis]), lo)
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(lo, hi)
    parts = [x[tuple(idx)]]

    def zeros(width: int) -> mx.array:
        return mx.zeros([width if a == axis else s for a, s in enumerate(x.shape)], x.dtype)

    if left:
        parts.insert(0, zeros(left))
    if n - left - (hi - lo):
        parts.append(zeros(n - left - (hi - lo)))
    return parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=axis)


def _depthwise_fused(x: mx.array, w: mx.array, stride_f: int) -> mx.array:
    """The depthwise conv of unpadded x (B, T, F, C), causal in time, 'same' in frequency, as one compiled
    multiply-add over its taps' shifted inputs (zero-filled, no padded copy of x): MLX's CPU runs each strided
    product, each sum and the pads as slow loops of their own (DFN3's stride-2 conv on 96 complex bins: 45 ms,
    here 9 ms). A stride of 2 reads even / odd bins (of a reshape when F is even)."""
    _, kt, kf, _ = w.shape
    b, t, f, c = x.shape
    f_out = (f - 1) // stride_f + 1
    if stride_f == 1:
        phases = [x]
    elif stride_f == 2 and f % 2 == 0:
        xr = x.reshape(b, t, f // 2, 2, c)
        phases = [xr[:, :, :, 0, :], xr[:, :, :, 1, :]]
    else:
        phases = [x[:, :, p::stride_f, :] for p in range(stride_f)]
    cols = []
    for i in range(kt):
        for j in range(kf):
            d = j - kf // 2  # bin offset: output m reads bin stride * m + d
            col = _shifted(phases[d % stride_f], 2, d // stride_f, f_out)
            cols.append(_shifted(col, 1, i - (kt - 1), t))
    return _taps_sum(*cols, *(w[:, i, j, 0] for i in range(kt) for j in range(kf)))


def _conv_as_matmul(x: mx.array, w: mx.array, t: int, f: int, stride_f: int) -> mx.array:
    """The dense conv of time-padded x (B, t + kT - 1, F, C) as one matmul: few input channels gather the kernel
    taps' shifted inputs side by side (im2col); many project every tap at once, then add the shifted projections."""
    out, kt, kf, cin = w.shape
    if cin * kt * kf <= 64:
        x = mx.contiguous(mx.pad(x, [(0, 0), (0, 0), (kf // 2, kf // 2), (0, 0)]))
        b, tp, fp, _ = x.shape
        # the taps' shifted inputs side by side (kT, kF, C) per output as one strided view, copied once
        # (MLX's concatenate of the kT kF slices: a slow copy per slice)
        cols = mx.as_strided(x, (b, t, (f - 1) // stride_f + 1, kt, kf, cin),
                             (tp * fp * cin, fp * cin, stride_f * cin, fp * cin, cin, 1))
        cols = mx.contiguous(cols).reshape(b, t, -1, kt * kf * cin)
        return cols @ mx.contiguous(w.reshape(out, -1).T)  # (.., kT kF C) @ (kT kF C, out)
    # the weight made row-contiguous whatever its layout, so the product (and its rounding) is the same
    proj = x @ mx.contiguous(w.transpose(3, 1, 2, 0).reshape(cin, -1))  # (B, t + kT - 1, F, kT kF out)
    if kf > 1:
        proj = mx.pad(proj, [(0, 0), (0, 0), (kf // 2, kf // 2), (0, 0)])
    taps = [(i, j) for i in range(kt) for j in range(kf)]
    return sum(proj[:, i:i + t, j:j + f:stride_f, (i * kf + j) * out:(i * kf + j + 1) * out] for i, j in taps)


def conv_transpose_f(x: mx.array, w: mx.array) -> mx.array:
    """Depthwise transposed conv along frequency, stride 2, kernel 3 (ONNX pads 1, output_padding 1): F -> 2F.

    Output j gathers x[i] w[k] with j = 2i + k - 1: even outputs x[m] w[1], odd ones x[m] w[2] + x[m + 1] w[0]
    (the same products and sums as correlating the zero-stuffed input with the flipped kernel, without the zeros).
    """
    b, t, f, c = x.shape
    w0, w1, w2 = (w[:, 0, k, 0] for k in range(3))
    nxt = mx.concatenate([x[:, :, 1:], mx.zeros((b, t, 1, c), x.dtype)], axis=2)  # x[m + 1], zero past the end
    if fast_math_active(2 * x.size) and x.dtype == mx.float32:
        # both outputs of a bin in one compiled loop that writes them interleaved: [x w1 + nxt 0, x w2 + nxt w0]
        pairs = _even_odd(x[..., None, :], nxt[..., None, :], mx.stack([w1, w2]), mx.stack([mx.zeros_like(w0), w0]))
        return pairs.reshape(b, t, 2 * f, c)
    even, odd = x * w1, x * w2 + nxt * w0
    return mx.stack([even, odd], axis=3).reshape(b, t, 2 * f, c)


@mx.compile
def _even_odd(x: mx.array, nxt: mx.array, w_x: mx.array, w_nxt: mx.array) -> mx.array:
    return x * w_x + nxt * w_nxt  # (B, T, F, 1, C) with (2, C) -> (B, T, F, 2, C)


def tanh(x: mx.array) -> mx.array:
    """tanh; on the CPU fast path NumPy's SIMD loop (MLX's CPU tanh is a scalar loop: 1M floats, 46 ms vs 0.6 ms)."""
    if fast_math_active(x.size) and x.dtype == mx.float32:
        return elementwise.ufunc(np.tanh, x)
    return mx.tanh(x)
