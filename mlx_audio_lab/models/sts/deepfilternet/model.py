"""DeepFilterNet3 (Schröter et al., 2023) in MLX: an encoder over ERB and complex-spectrum features, an ERB
decoder predicting per-band gains, and a DF decoder predicting deep-filter coefficients.

Channels-last throughout: feature maps are (B, T, F, C). Time convolutions are causal (left-padded).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers.cpu import elementwise
from ....layers.cpu.blas_threads import mlx_blas_threads
from ....layers.fast_math import fast_math_active
from ....layers.gru import GRU, run_together
from ....taps import tap
from .config import DeepFilterNetConfig

DF_GRU_GROUPS = 8  # groups of the DF decoder GRU's input projection (upstream's default, not in config.ini)


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
        x = mx.pad(x, [(0, 0), (0, 0), (kf // 2, kf // 2), (0, 0)])
        cols = [x[:, i:i + t, j:j + f:stride_f, :] for i in range(kt) for j in range(kf)]
        return mx.concatenate(cols, axis=-1) @ mx.contiguous(w.reshape(out, -1).T)  # (.., kT kF C) @ (kT kF C, out)
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


class Conv(nn.Module):
    """A convolution with bias (batch norm folded in), weight (out, kT, kF, in / groups)."""

    def __init__(self, c_in: int, c_out: int, kt: int, kf: int, groups: int = 1):
        super().__init__()
        self.weight = mx.zeros((c_out, kt, kf, c_in // groups))
        self.bias = mx.zeros((c_out,))
        self.groups = groups

    def __call__(self, x: mx.array) -> mx.array:
        return conv(x, self.weight, self.bias, groups=self.groups)


class SeparableConv(nn.Module):
    """Grouped conv (no bias) -> 1x1 conv (bias, folded norm) -> ReLU; `transposed` upsamples frequency by 2."""

    def __init__(self, c_in: int, c_out: int, kt: int, kf: int, groups: int, stride_f: int = 1,
                 transposed: bool = False):
        super().__init__()
        self.depthwise = {"weight": mx.zeros((c_out, kt, kf, c_in // groups))}
        self.pointwise = {"weight": mx.zeros((c_out, 1, 1, c_out)), "bias": mx.zeros((c_out,))}
        self.groups, self.stride_f, self.transposed = groups, stride_f, transposed

    def __call__(self, x: mx.array) -> mx.array:
        w = self.depthwise["weight"]
        out, kt, kf, per = w.shape
        if not self.transposed and not (per == 1 and x.shape[-1] == out) and fast_math_active(x.size * kt * kf) \
                and x.dtype == mx.float32:
            # no nonlinearity between the two convs: on the CPU they fold into one dense conv (out, kT, kF, in)
            wp = self.pointwise["weight"][:, 0, 0, :]  # (out, mid)
            w = (wp @ dense(w, self.groups).reshape(w.shape[0], -1)).reshape(wp.shape[0], kt, kf, -1)
            return nn.relu(conv(x, w, self.pointwise["bias"], stride_f=self.stride_f))
        x = conv_transpose_f(x, w) if self.transposed else conv(x, w, stride_f=self.stride_f, groups=self.groups)
        return nn.relu(conv(x, self.pointwise["weight"], self.pointwise["bias"]))


class GroupedLinear(nn.Module):
    """Block-diagonal linear: (..., G * I) -> (..., G * H) with weight (G, I, H)."""

    def __init__(self, d_in: int, d_out: int, groups: int):
        super().__init__()
        self.weight = mx.zeros((groups, d_in // groups, d_out // groups))

    def __call__(self, x: mx.array) -> mx.array:
        g, i, h = self.weight.shape
        lead = x.shape[:-1]
        if fast_math_active(x.size) and x.dtype == mx.float32:
            # one (N, I) @ (I, H) product per group: MLX's CPU runs the broadcast form as N * G one-row products
            y = x.reshape(-1, g, i).transpose(1, 0, 2) @ self.weight  # (G, N, H)
            return y.transpose(1, 0, 2).reshape(*lead, g * h)
        y = x.reshape(*lead, g, 1, i) @ self.weight  # (..., G, 1, H)
        return y.reshape(*lead, g * h)


class SqueezedGRU(nn.Module):
    """Grouped linear in (ReLU) -> GRU -> grouped linear out (ReLU), as DFN3's embedding GRU."""

    def __init__(self, d_in: int, hidden: int, d_out: int | None, layers: int, groups: int):
        super().__init__()
        self.linear_in = GroupedLinear(d_in, hidden, groups)
        self.gru = GRU(hidden, hidden, layers)
        if d_out is not None:
            self.linear_out = GroupedLinear(hidden, d_out, groups)

    def __call__(self, x: mx.array, name: str, inner: tuple[mx.array, mx.array] | None = None) -> mx.array:
        """`inner`: (linear_in output, GRU output) when already computed (`DfNet` runs both decoders' GRUs at once)."""
        x, y = inner if inner is not None else (nn.relu(self.linear_in(x)), None)
        x = tap(f"{name}.linear_in", x)
        x = tap(f"{name}.gru", self.gru(x)[0] if y is None else y)
        return nn.relu(self.linear_out(x)) if "linear_out" in self else x


class Linear(nn.Module):
    """y = x W^T + b, weight (out, in)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.weight, self.bias = mx.zeros((d_out, d_in)), mx.zeros((d_out,))

    def __call__(self, x: mx.array) -> mx.array:
        return x @ self.weight.T + self.bias


class Encoder(nn.Module):
    """ERB path (4 convs to 8 bands) + complex-spectrum path (2 convs to 48 bins) -> summed embedding -> GRU."""

    def __init__(self, c: DeepFilterNetConfig):
        super().__init__()
        ch, emb = c.conv_ch, c.conv_ch * c.nb_erb // 4
        self.erb_conv0 = Conv(1, ch, 3, 3)
        self.erb_conv1 = SeparableConv(ch, ch, 1, 3, ch, stride_f=2)
        self.erb_conv2 = SeparableConv(ch, ch, 1, 3, ch, stride_f=2)
        self.erb_conv3 = SeparableConv(ch, ch, 1, 3, ch)
        self.df_conv0 = SeparableConv(2, ch, 3, 3, 2)
        self.df_conv1 = SeparableConv(ch, ch, 1, 3, ch, stride_f=2)
        self.df_fc_emb = GroupedLinear(ch * c.nb_df // 2, emb, c.enc_linear_groups)
        self.emb_gru = SqueezedGRU(emb, c.emb_hidden_dim, emb, 1, c.linear_groups)
        self.lsnr_fc = Linear(emb, 1)
        self.lsnr_scale, self.lsnr_offset = c.lsnr_max - c.lsnr_min, c.lsnr_min

    def __call__(self, feat_erb: mx.array, feat_spec: mx.array) -> tuple[mx.array, ...]:
        """feat_erb (B, T, E, 1), feat_spec (B, T, Fdf, 2) -> e0..e3 (B, T, F', C), emb (B, T, 512), c0, lsnr."""
        e0 = tap("enc.e0", nn.relu(self.erb_conv0(feat_erb)))  # (B, T, 32, 64)
        e1 = tap("enc.e1", self.erb_conv1(e0))  # (B, T, 16, 64)
        e2 = tap("enc.e2", self.erb_conv2(e1))  # (B, T, 8, 64)
        e3 = tap("enc.e3", self.erb_conv3(e2))  # (B, T, 8, 64)
        c0 = tap("enc.c0", self.df_conv0(feat_spec))  # (B, T, 96, 64)
        c1 = tap("enc.c1", self.df_conv1(c0))  # (B, T, 48, 64)
        b, t = c1.shape[:2]
        cemb = tap("enc.df_fc_emb", nn.relu(self.df_fc_emb(c1.reshape(b, t, -1))))  # (B, T, 512)
        emb = tap("enc.combine", e3.reshape(b, t, -1) + cemb)
        emb = tap("enc.emb", self.emb_gru(emb, "enc.emb_gru"))
        lsnr = tap("enc.lsnr", mx.sigmoid(self.lsnr_fc(emb)) * self.lsnr_scale + self.lsnr_offset)  # (B, T, 1)
        return e0, e1, e2, e3, emb, c0, lsnr


class ErbDecoder(nn.Module):
    """GRU over the embedding, then a U-Net of transposed convs with encoder skips -> ERB gains in (0, 1)."""

    def __init__(self, c: DeepFilterNetConfig):
        super().__init__()
        ch, emb = c.conv_ch, c.conv_ch * c.nb_erb // 4
        self.emb_gru = SqueezedGRU(emb, c.emb_hidden_dim, emb, c.emb_num_layers - 1, c.linear_groups)
        for i in range(4):
            setattr(self, f"conv{i}p", Conv(ch, ch, 1, 1, groups=ch))
        self.convt3 = SeparableConv(ch, ch, 1, 3, ch)
        self.convt2 = SeparableConv(ch, ch, 1, 3, ch, transposed=True)
        self.convt1 = SeparableConv(ch, ch, 1, 3, ch, transposed=True)
        self.conv0_out = Conv(ch, 1, 1, 3)

    def __call__(self, emb: mx.array, e3: mx.array, e2: mx.array, e1: mx.array, e0: mx.array,
                 inner: tuple[mx.array, mx.array] | None = None) -> mx.array:
        """-> gains (B, T, E, 1); `inner` as `SqueezedGRU`'s."""
        b, t, f, ch = e3.shape
        x = tap("erb_dec.emb", self.emb_gru(emb, "erb_dec.emb_gru", inner)).reshape(b, t, f, ch)  # (B, T, 8, 64)
        x = tap("erb_dec.d3", self.convt3(nn.relu(self.conv3p(e3)) + x))  # (B, T, 8, 64)
        x = tap("erb_dec.d2", self.convt2(nn.relu(self.conv2p(e2)) + x))  # (B, T, 16, 64)
        x = tap("erb_dec.d1", self.convt1(nn.relu(self.conv1p(e1)) + x))  # (B, T, 32, 64)
        return tap("erb_dec.m", mx.sigmoid(self.conv0_out(nn.relu(self.conv0p(e0)) + x)))


class DfDecoder(nn.Module):
    """GRU over the embedding (+ grouped skip) and a causal conv pathway over c0 -> DF coefficients."""

    def __init__(self, c: DeepFilterNetConfig):
        super().__init__()
        ch, emb, out = c.conv_ch, c.conv_ch * c.nb_erb // 4, c.df_order * 2
        # upstream builds this GRU without passing `linear_groups`, so it takes SqueezedGRU_S's default of 8
        self.df_gru = SqueezedGRU(emb, c.df_hidden_dim, None, c.df_num_layers, DF_GRU_GROUPS)
        self.df_skip = GroupedLinear(emb, c.df_hidden_dim, c.linear_groups)
        self.df_convp = SeparableConv(ch, out, c.df_pathway_kernel_size_t, 1, 2)
        self.df_out = GroupedLinear(c.df_hidden_dim, c.nb_df * out, c.linear_groups)
        self.df_fc_a = Linear(c.df_hidden_dim, 1)

    def __call__(self, emb: mx.array, c0: mx.array,
                 inner: tuple[mx.array, mx.array] | None = None) -> tuple[mx.array, mx.array]:
        """-> coefficients (B, T, Fdf, order * 2) as (re, im) pairs per tap, alpha (B, T, 1); `inner` as
        `SqueezedGRU`'s."""
        b, t, f = c0.shape[0], c0.shape[1], c0.shape[2]
        c = tap("df_dec.gru", self.df_gru(emb, "df_dec.df_gru", inner) + self.df_skip(emb))  # (B, T, 256)
        pathway = tap("df_dec.convp", self.df_convp(c0))  # (B, T, 96, 10)
        coefs = tanh(self.df_out(c)).reshape(b, t, f, -1) + pathway
        return tap("df_dec.coefs", coefs), tap("df_dec.alpha", mx.sigmoid(self.df_fc_a(c)))


class DfNet(nn.Module):
    """The three networks; `enhance.py` holds the DSP around them."""

    def __init__(self, config: DeepFilterNetConfig):
        super().__init__()
        self.config = config
        self.enc = Encoder(config)
        self.erb_dec = ErbDecoder(config)
        self.df_dec = DfDecoder(config)

    def __call__(self, feat_erb: mx.array, feat_spec: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """Features (already shifted by the conv lookahead) -> (ERB gains, DF coefficients, local SNR).

        On the CPU fast path MLX's matmuls run on one OpenBLAS thread and the outputs are evaluated here: the
        second BLAS thread spins between the many medium products and takes the core the GRUs' second thread
        (and any other process) needs (`layers/cpu/blas_threads.py`)."""
        fast = fast_math_active() and feat_spec.dtype == mx.float32
        with mlx_blas_threads(1, fast):
            out = self._networks(feat_erb, feat_spec)
            if fast:
                mx.eval(*out)
        return out

    def _networks(self, feat_erb: mx.array, feat_spec: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        e0, e1, e2, e3, emb, c0, lsnr = self.enc(feat_erb, feat_spec)
        # the two decoders' GRUs are independent: layer by layer together (on the CPU, one core each)
        squeezed = (self.erb_dec.emb_gru, self.df_dec.df_gru)
        ins = [nn.relu(s.linear_in(emb)) for s in squeezed]
        outs = run_together([s.gru for s in squeezed], ins)
        m = self.erb_dec(emb, e3, e2, e1, e0, inner=(ins[0], outs[0]))
        coefs, _ = self.df_dec(emb, c0, inner=(ins[1], outs[1]))
        return m, coefs, lsnr
