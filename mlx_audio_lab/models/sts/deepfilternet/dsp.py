"""The signal processing around DeepFilterNet (libDF's, in MLX): analysis / synthesis STFT with the Vorbis
window, ERB and complex-spectrum features with exponential mean normalisation, ERB gains and deep filtering.

Spectra are complex (T, F) for one channel; features are channels-last (1, T, F, C) as the networks take them.
"""

from __future__ import annotations

from functools import lru_cache

import mlx.core as mx
import numpy as np

from .... import dsp
from ....layers.fast_math import fast_math_active
from .config import DeepFilterNetConfig

MEAN_NORM_INIT = (-60.0, -90.0)  # dB, first and last ERB band (libDF)
UNIT_NORM_INIT = (0.001, 0.0001)  # magnitude, first and last DF bin (libDF)


def pad_input(audio: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """Append one FFT of zeros (the STFT's delay) and round up to whole hops."""
    n = audio.shape[-1] + c.fft_size
    n += (-n) % c.hop_size
    return mx.pad(audio, [(0, n - audio.shape[-1])])


def analysis(audio: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """(N,) with N a multiple of the hop -> (N / hop, F) complex; frame t ends at sample (t + 1) * hop.

    libDF keeps the previous hop as memory (zeros at the start) and scales by 1 / (N^2 / (2 hop)).
    """
    x = mx.pad(audio, [(c.fft_size - c.hop_size, 0)])
    spec = dsp.stft(x, c.fft_size, c.hop_size, window=mx.array(c.window()), center=False)
    return scaled(spec, 2 * c.hop_size / c.fft_size**2)


def scaled(z: mx.array, s: float) -> mx.array:
    """z * s for complex64 z: on the CPU fast path as float32 (re, im) pairs times s, the same values (MLX's CPU
    complex multiply is a scalar loop: 5 ms for one 10 s spectrum, the FFT itself 1.5 ms)."""
    if fast_math_active(2 * z.size) and z.dtype == mx.complex64:
        return mx.view(mx.view(z, mx.float32) * s, mx.complex64)
    return z * s


def synthesis(spec: mx.array, length: int, c: DeepFilterNetConfig) -> mx.array:
    """(T, F) -> the first `length` samples after the (fft - hop) delay: unnormalised iFFT, window, overlap-add."""
    # libDF's inverse FFT is unnormalised (x N), MLX's irfft is not; the envelope (sum of window^2) is 1 past the delay
    window = mx.array(c.window())
    delay = c.fft_size - c.hop_size
    if c.fft_size != 2 * c.hop_size:
        y = dsp.istft(scaled(spec, c.fft_size), c.fft_size, c.hop_size, window=window, center=False)
        return y[delay:delay + length]
    # half overlap, as libDF: hop t after the delay is frame t + 1's first half plus frame t's second half
    frames = mx.fft.irfft(scaled(spec, c.fft_size), n=c.fft_size, axis=-1) * window  # (T, N)
    return (frames[1:, : c.hop_size] + frames[:-1, c.hop_size:]).reshape(-1)[:length]


def exp_smooth(x: mx.array, init: mx.array, alpha: float, chunk: int = 128) -> mx.array:
    """s_t = alpha s_{t-1} + (1 - alpha) x_t over the first axis of (T, K), from s_{-1} = init: one matmul per chunk."""
    outs, state = [], init
    for start in range(0, x.shape[0], chunk):
        xc = x[start:start + chunk]
        lower, decay = _smoothing_matrices(xc.shape[0], alpha)
        s = decay * state + (1 - alpha) * (lower @ xc)
        outs.append(s)
        state = s[-1]
    return mx.concatenate(outs, axis=0)


@lru_cache(maxsize=16)
def _smoothing_matrices(n: int, alpha: float) -> tuple[mx.array, mx.array]:
    """`exp_smooth`'s chunk matrices, made once per (length, alpha): alpha^(t-j) for j <= t (n, n) and
    alpha^(t+1) (n, 1)."""
    k = np.arange(n)
    lower = np.tril(alpha ** (k[:, None] - k[None, :]).clip(0)).astype(np.float32)
    decay = (alpha ** (k + 1.0)).astype(np.float32)[:, None]
    return mx.array(lower), mx.array(decay)


def erb_features(spec: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """Band power in dB (mean over each ERB band's bins), minus its running mean, / 40 -> (T, E)."""
    band_mean, _ = c.erb_matrices()
    re, im = mx.real(spec), mx.imag(spec)
    power = re * re + im * im  # (`** 2` runs MLX's pow, a scalar loop 20x slower on the CPU, and not always exact)
    db = 10 * mx.log10(power @ mx.array(band_mean) + 1e-10)
    mean = exp_smooth(db, mx.array(np.linspace(*MEAN_NORM_INIT, c.nb_erb).astype(np.float32)), c.norm_alpha)
    return (db - mean) / 40


def spec_features(spec: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """The first nb_df bins divided by the sqrt of their running mean magnitude -> (T, Fdf, 2) (re, im)."""
    low = spec[:, : c.nb_df]
    norm = exp_smooth(mx.abs(low), mx.array(np.linspace(*UNIT_NORM_INIT, c.nb_df).astype(np.float32)),
                      c.norm_alpha)
    if fast_math_active(2 * low.size) and low.dtype == mx.complex64:  # the (re, im) pairs divided: no complex loop
        return mx.view(low, mx.float32).reshape(*low.shape, 2) / mx.sqrt(norm)[..., None]
    low = low / mx.sqrt(norm)
    return mx.stack([mx.real(low), mx.imag(low)], axis=-1)


def lookahead(feat: mx.array, frames: int) -> mx.array:
    """Shift (T, ...) features `frames` earlier (zeros at the end): the conv lookahead."""
    if frames == 0:
        return feat
    return mx.concatenate([feat[frames:], mx.zeros((frames, *feat.shape[1:]), feat.dtype)], axis=0)


def apply_erb_gains(spec: mx.array, gains: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """Every bin times its band's gain: (T, F) complex, gains (T, E)."""
    _, spread = c.erb_matrices()
    return spec * (gains @ mx.array(spread))


def deep_filter(spec: mx.array, coefs: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """Complex FIR over df_order frames per bin (df_lookahead of them ahead): (T, Fdf) complex, coefs (T, Fdf, 2 order).

    out[t, f] = sum_o spec[t + o - (order - 1 - lookahead), f] * coef[t, f, o].
    """
    t, f = coefs.shape[:2]
    past = c.df_order - 1 - c.df_lookahead
    padded = mx.pad(spec[:, :f], [(past, c.df_lookahead), (0, 0)])
    taps = mx.stack([padded[o:o + t] for o in range(c.df_order)], axis=-1)  # (T, Fdf, order)
    w = coefs.reshape(t, f, c.df_order, 2)
    return (taps * (w[..., 0] + 1j * w[..., 1])).sum(axis=-1)


def enhanced_spectrum(spec: mx.array, gains: mx.array, coefs: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """The deep filter on the lowest nb_df bins, the ERB gains above them: (T, F) complex.

    On the CPU fast path the same products and sums run on the spectrum's float32 (re, im) pairs (a view, no
    copy), the deep filter as one compiled loop: MLX's CPU complex ops are scalar loops (40 ms vs 8 ms on 10 s)."""
    if not (fast_math_active(coefs.size) and spec.dtype == mx.complex64 and coefs.dtype == mx.float32):
        masked = apply_erb_gains(spec, gains, c)
        return mx.concatenate([deep_filter(spec, coefs, c), masked[:, c.nb_df:]], axis=1)
    return _enhanced_pairs(spec, gains, coefs, c)


def _enhanced_pairs(spec: mx.array, gains: mx.array, coefs: mx.array, c: DeepFilterNetConfig) -> mx.array:
    """`enhanced_spectrum` on the complex64 spectrum's float32 (re, im) pairs."""
    t, f = coefs.shape[:2]
    _, spread = c.erb_matrices()
    pairs = mx.view(spec, mx.float32).reshape(t, -1, 2)  # (T, F, 2): re, im
    high = pairs[:, f:] * (gains @ mx.array(spread))[:, f:, None]
    past = c.df_order - 1 - c.df_lookahead
    padded = mx.pad(pairs[:, :f], [(past, c.df_lookahead), (0, 0), (0, 0)])
    taps = mx.stack([padded[o:o + t] for o in range(c.df_order)], axis=2)  # (T, Fdf, order, 2)
    low = _deep_filter_pairs(taps, coefs.reshape(t, f, c.df_order, 2))
    return mx.view(mx.concatenate([low, high], axis=1), mx.complex64).reshape(t, -1)


@mx.compile
def _deep_filter_pairs(taps: mx.array, w: mx.array) -> mx.array:
    """sum_o taps[..., o] * w[..., o] for (re, im) pairs (T, Fdf, order, 2) -> (T, Fdf, 2), as the complex product."""
    tr, ti, wr, wi = taps[..., 0], taps[..., 1], w[..., 0], w[..., 1]
    return mx.stack([(tr * wr - ti * wi).sum(-1), (tr * wi + ti * wr).sum(-1)], axis=-1)
