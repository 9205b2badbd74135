"""Anti-aliased periodic activations (BigVGAN's AMP blocks, after StyleGAN3 / alias-free-torch): upsample 2x with a
windowed-sinc low-pass, apply Snake / SnakeBeta at the doubled rate, low-pass and decimate back.

The filters are Kaiser-windowed sincs (julius' recipe: Kaiser beta from the transition band, taps normalized to
sum 1). They are fixed, computed here, not loaded. Channels-last: (B, T, C); every channel uses the same taps,
so both resamplers are a few shifted multiply-adds by scalars (polyphase for the upsampler).
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> np.ndarray:
    """(kernel_size,) float32 low-pass taps: sinc at `cutoff` (cycles per sample) under a Kaiser window whose beta
    is set by the transition band `half_width`, normalized to unit DC gain."""
    half = kernel_size // 2
    delta_f = 4 * half_width
    attenuation = 2.285 * (half - 1) * math.pi * delta_f + 7.95  # Kaiser's formula, dB
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = np.kaiser(kernel_size, beta)  # symmetric
    t = np.arange(-half, half) + 0.5 if kernel_size % 2 == 0 else np.arange(kernel_size) - half
    if cutoff == 0:
        return np.zeros(kernel_size, np.float32)
    taps = 2 * cutoff * window * np.sinc(2 * cutoff * t)
    return (taps / taps.sum()).astype(np.float32)


def frequency_response(taps: np.ndarray, sample_rate: float, n_fft: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, gain in dB) of an FIR filter running at `sample_rate`."""
    h = np.abs(np.fft.rfft(taps.astype(np.float64), n_fft))
    return np.fft.rfftfreq(n_fft, 1 / sample_rate), 20 * np.log10(np.maximum(h, 1e-12))


def _fir(x: mx.array, taps: np.ndarray, length: int, step: int = 1) -> mx.array:
    """sum_k x[:, k + step * n] * taps[k] for n < length: a correlation with scalar taps along time."""
    span = step * (length - 1) + 1
    y = None
    for k, h in enumerate(taps.tolist()):
        term = x[:, k : k + span : step] * h
        y = term if y is None else y + term
    return y


class UpSample1d(nn.Module):
    """x `ratio` by a transposed conv with the low-pass (cutoff 0.5 / ratio), edges replicated; length T -> ratio T."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None):
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self._taps = kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, self.kernel_size)

    @property
    def taps(self) -> np.ndarray:
        return self._taps

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, ratio * T, C)."""
        r, k = self.ratio, self.kernel_size
        pad = k // r - 1
        T = x.shape[1]
        x = mx.pad(x, [(0, 0), (pad, pad), (0, 0)], mode="edge")
        # the full transposed conv: y[r m + p] = sum_j x[m - j] h[r j + p]; keep outputs from pad_left on
        pad_left = pad * r + (k - r) // 2
        phases = []
        for p in range(r):
            first = pad_left + p  # first kept output of this phase in the interleaved order
            p_src = first % r  # which polyphase branch produces it
            m0 = first // r
            h = self._taps[p_src::r][::-1]  # reversed: a correlation over x[m0 - (n - 1) .. m0]
            n = len(h)
            phases.append(_fir(x[:, m0 - n + 1 :], h, T))
        return r * mx.stack(phases, axis=2).reshape(x.shape[0], r * T, x.shape[2])


class LowPassFilter1d(nn.Module):
    """Low-pass (cutoff, half_width in cycles per sample) then keep every `stride`-th sample; edges replicated."""

    def __init__(self, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1, kernel_size: int = 12):
        super().__init__()
        self.stride, self.kernel_size = stride, kernel_size
        self.pad_left, self.pad_right = kernel_size // 2 - int(kernel_size % 2 == 0), kernel_size // 2
        self._taps = kaiser_sinc_filter(cutoff, half_width, kernel_size)

    @property
    def taps(self) -> np.ndarray:
        return self._taps

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, (T - 1) // stride + 1, C)."""
        x = mx.pad(x, [(0, 0), (self.pad_left, self.pad_right), (0, 0)], mode="edge")
        length = (x.shape[1] - self.kernel_size) // self.stride + 1
        return _fir(x, self._taps, length, self.stride)


class DownSample1d(nn.Module):
    """/ `ratio`: the low-pass at 0.5 / ratio, strided."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None):
        super().__init__()
        k = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, stride=ratio, kernel_size=k)

    def __call__(self, x: mx.array) -> mx.array:
        return self.lowpass(x)


class Activation1d(nn.Module):
    """An activation at `up_ratio` x the rate: upsample, act, downsample (the alias-free nonlinearity)."""

    def __init__(self, act: nn.Module, up_ratio: int = 2, down_ratio: int = 2, up_kernel_size: int = 12,
                 down_kernel_size: int = 12):
        super().__init__()
        self.act = act
        self.upsample = UpSample1d(up_ratio, up_kernel_size)
        self.downsample = DownSample1d(down_ratio, down_kernel_size)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T, C) (for equal ratios)."""
        return self.downsample(self.act(self.upsample(x)))
