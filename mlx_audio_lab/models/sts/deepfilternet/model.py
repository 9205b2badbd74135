"""DeepFilterNet3 (Schröter et al., 2023) in MLX: an encoder over ERB and complex-spectrum features, an ERB
decoder predicting per-band gains, and a DF decoder predicting deep-filter coefficients.

Channels-last throughout: feature maps are (B, T, F, C). Time convolutions are causal (left-padded).
"""

from __future__ import annotations

from contextlib import nullcontext

import mlx.core as mx
import mlx.nn as nn

from ....layers.cpu import tf_conv_native
from ....layers.cpu.blas_threads import mlx_blas_threads
from ....layers.fast_math import cpu_streams, fast_math_active
from ....layers.gru import GRU, run_together
from ....taps import tap
from .config import DeepFilterNetConfig
from .convs import conv, conv_transpose_f, dense, tanh

DF_GRU_GROUPS = 8  # groups of the DF decoder GRU's input projection (upstream's default, not in config.ini)


def side_stream(fast: bool) -> mx.Stream | None:
    """On the CPU fast path a second CPU stream (its own thread) for the branches that do not wait on a GRU."""
    return cpu_streams()[0] if fast else None


def on(stream: mx.Stream | None):
    """`mx.stream(stream)`, or nothing when None."""
    return nullcontext() if stream is None else mx.stream(stream)


def start(stream: mx.Stream | None, *xs: mx.array) -> None:
    """Begin evaluating `xs` (built under `on(stream)`) on that stream's thread, without waiting."""
    if stream is not None:
        mx.async_eval(*xs)


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

    def __call__(self, x: mx.array, native: bool = True) -> mx.array:
        """`native`: the C kernels may run (they compute at once on this thread: not for work meant for a second
        stream)."""
        w = self.depthwise["weight"]
        out, kt, kf, per = w.shape
        fast = fast_math_active(x.size * kt * kf) and x.dtype == mx.float32
        depthwise = per == 1 and x.shape[-1] == out
        if fast and depthwise and native:  # depthwise, 1x1, bias and ReLU in one pass (tf_conv_kernels.c)
            y = tf_conv_native.separable_conv(x, w, self.pointwise["weight"], self.pointwise["bias"], self.stride_f,
                                              self.transposed)
            if y is not None:
                return y
        if fast and not depthwise and not self.transposed:
            # no nonlinearity between the two convs: on the CPU they fold into one dense conv (out, kT, kF, in)
            wp = self.pointwise["weight"][:, 0, 0, :]  # (out, mid)
            w = (wp @ dense(w, self.groups).reshape(w.shape[0], -1)).reshape(wp.shape[0], kt, kf, -1)
            few = x.shape[-1] * kt * kf <= 64  # few input taps: the direct kernel, else the BLAS product
            y = tf_conv_native.dense_conv(x, w, self.pointwise["bias"], self.stride_f, relu=True) \
                if native and few else None
            return y if y is not None else nn.relu(conv(x, w, self.pointwise["bias"], stride_f=self.stride_f))
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
        e0, e1, e2, e3, c0, combined = self.convs(feat_erb, feat_spec)
        emb, lsnr = self.embed(combined)
        return e0, e1, e2, e3, emb, c0, lsnr

    def convs(self, feat_erb: mx.array, feat_spec: mx.array, side: mx.Stream | None = None) -> tuple[mx.array, ...]:
        """The two conv paths -> e0..e3, c0 and their summed embedding (B, T, 512); with `side`, the ERB path runs
        on that stream while this one runs the complex path."""
        native = side is None  # (the C kernels would run the ERB path here, not on the side stream)
        with on(side):
            e0 = tap("enc.e0", nn.relu(self.erb_conv0(feat_erb)))  # (B, T, 32, 64)
            e1 = tap("enc.e1", self.erb_conv1(e0, native))  # (B, T, 16, 64)
            e2 = tap("enc.e2", self.erb_conv2(e1, native))  # (B, T, 8, 64)
            e3 = tap("enc.e3", self.erb_conv3(e2, native))  # (B, T, 8, 64)
        start(side, e0, e1, e2, e3)
        c0 = tap("enc.c0", self.df_conv0(feat_spec))  # (B, T, 96, 64)
        c1 = tap("enc.c1", self.df_conv1(c0))  # (B, T, 48, 64)
        b, t = c1.shape[:2]
        cemb = tap("enc.df_fc_emb", nn.relu(self.df_fc_emb(c1.reshape(b, t, -1))))  # (B, T, 512)
        return e0, e1, e2, e3, c0, tap("enc.combine", e3.reshape(b, t, -1) + cemb)

    def embed(self, combined: mx.array) -> tuple[mx.array, mx.array]:
        """The summed embedding through the GRU -> (emb (B, T, 512), lsnr (B, T, 1))."""
        emb = tap("enc.emb", self.emb_gru(combined, "enc.emb_gru"))
        return emb, tap("enc.lsnr", mx.sigmoid(self.lsnr_fc(emb)) * self.lsnr_scale + self.lsnr_offset)


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

    def skips(self, e3: mx.array, e2: mx.array, e1: mx.array, e0: mx.array) -> list[mx.array]:
        """The encoder skips through their 1x1 convs (ReLU), deepest first: they need no GRU output."""
        return [nn.relu(getattr(self, f"conv{i}p")(e)) for i, e in zip((3, 2, 1, 0), (e3, e2, e1, e0))]

    def __call__(self, emb: mx.array, e3: mx.array, e2: mx.array, e1: mx.array, e0: mx.array,
                 inner: tuple[mx.array, mx.array] | None = None, skips: list[mx.array] | None = None,
                 native: bool = True) -> mx.array:
        """-> gains (B, T, E, 1); `inner` as `SqueezedGRU`'s, `skips` as `skips` when already computed, `native`
        as `SeparableConv`'s."""
        b, t, f, ch = e3.shape
        s3, s2, s1, s0 = skips if skips is not None else self.skips(e3, e2, e1, e0)
        x = tap("erb_dec.emb", self.emb_gru(emb, "erb_dec.emb_gru", inner)).reshape(b, t, f, ch)  # (B, T, 8, 64)
        x = tap("erb_dec.d3", self.convt3(s3 + x, native))  # (B, T, 8, 64)
        x = tap("erb_dec.d2", self.convt2(s2 + x, native))  # (B, T, 16, 64)
        x = tap("erb_dec.d1", self.convt1(s1 + x, native))  # (B, T, 32, 64)
        return tap("erb_dec.m", mx.sigmoid(self.conv0_out(s0 + x)))


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

    def __call__(self, emb: mx.array, c0: mx.array, inner: tuple[mx.array, mx.array] | None = None,
                 pathway: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """-> coefficients (B, T, Fdf, order * 2) as (re, im) pairs per tap, alpha (B, T, 1); `inner` as
        `SqueezedGRU`'s, `pathway` df_convp(c0) when already computed."""
        b, t, f = c0.shape[0], c0.shape[1], c0.shape[2]
        c = tap("df_dec.gru", self.df_gru(emb, "df_dec.df_gru", inner) + self.df_skip(emb))  # (B, T, 256)
        pathway = tap("df_dec.convp", self.df_convp(c0) if pathway is None else pathway)  # (B, T, 96, 10)
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
            out = self._networks(feat_erb, feat_spec, side_stream(fast))
            if fast:
                mx.eval(*out)
        return out

    def _networks(self, feat_erb: mx.array, feat_spec: mx.array,
                  side: mx.Stream | None = None) -> tuple[mx.array, mx.array, mx.array]:
        """The networks; with `side` (a second CPU stream) what does not wait on a GRU runs there, beside this
        thread's GRU and convs: the ERB convs beside the complex ones, the skips and the DF pathway beside the
        encoder's GRU. The same ops either way, but for the C conv kernels (`SeparableConv`): they compute at once
        on this thread, so the ERB convs left to the second stream stay on MLX."""
        e0, e1, e2, e3, c0, combined = self.enc.convs(feat_erb, feat_spec, side)
        with on(side):
            skips = self.erb_dec.skips(e3, e2, e1, e0)
            pathway = self.df_dec.df_convp(c0)
        start(side, *skips, pathway)
        emb, lsnr = self.enc.embed(combined)
        # the two decoders' GRUs are independent: layer by layer together (on the CPU, one core each)
        squeezed = (self.erb_dec.emb_gru, self.df_dec.df_gru)
        ins = [nn.relu(squeezed[0].linear_in(emb))]
        with on(side):
            ins.append(nn.relu(squeezed[1].linear_in(emb)))
        outs = run_together([s.gru for s in squeezed], ins)
        m = self.erb_dec(emb, e3, e2, e1, e0, inner=(ins[0], outs[0]), skips=skips)  # (its convs in C)
        coefs, _ = self.df_dec(emb, c0, inner=(ins[1], outs[1]), pathway=pathway)
        return m, coefs, lsnr
