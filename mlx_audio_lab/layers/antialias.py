"""Anti-aliased periodic activations (BigVGAN's AMP blocks, after StyleGAN3 / alias-free-torch): upsample 2x with a
windowed-sinc low-pass, apply Snake / SnakeBeta at the doubled rate, low-pass and decimate back.

The filters are Kaiser-windowed sincs (julius' recipe: Kaiser beta from the transition band, taps normalized to
sum 1). They are fixed, computed here, not loaded. Channels-last: (B, T, C); every channel uses the same taps,
so both resamplers are a few shifted multiply-adds by scalars (polyphase for the upsampler).

On the CPU (unless MLX_AUDIO_LAB_PLAIN_MATH=1) `Activation1d` with Snake / SnakeBeta never builds the
interleaved 2x signal: each polyphase branch of the upsampler gets the Snake on its own and the strided low-pass
reads the branches directly (its even taps from one, odd taps from the other), all in one compiled function.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .cpu import native
from .fast_math import _snake_finish, _snake_reduce, fast_math_active
from .gpu.antialias import gpu_antialias_active, snake_antialias_gpu


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

    @property
    def pad(self) -> int:
        """Edge samples replicated on each side before the transposed conv."""
        return self.kernel_size // self.ratio - 1

    def phase_plan(self) -> list[tuple[int, np.ndarray]]:
        """Per output phase p: (start, taps) with y[r n + p] = r * sum_j x_padded[start + n + j] taps[j]."""
        r, k = self.ratio, self.kernel_size
        # the full transposed conv: y[r m + p] = sum_j x[m - j] h[r j + p]; keep outputs from pad_left on
        pad_left = self.pad * r + (k - r) // 2
        plan = []
        for p in range(r):
            first = pad_left + p  # first kept output of this phase in the interleaved order
            h = self._taps[first % r :: r][::-1]  # its polyphase branch, reversed: a correlation
            plan.append((first // r - len(h) + 1, h))
        return plan

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, ratio * T, C)."""
        T = x.shape[1]
        x = mx.pad(x, [(0, 0), (self.pad, self.pad), (0, 0)], mode="edge")
        phases = [_fir(x[:, start:], h, T) for start, h in self.phase_plan()]
        return self.ratio * mx.stack(phases, axis=2).reshape(x.shape[0], self.ratio * T, x.shape[2])


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

    def phase_plan(self) -> tuple[int, int, list[tuple[int, int, float]]]:
        """For input u[stride m + s] = phase_s[m]: (left, right, [(s, offset, tap)]) with output n =
        sum tap * phase_s'[n + offset], phase_s' = phase_s extended by `left` copies of u[0] and `right` of u[-1]."""
        r = self.stride
        q = [(k - self.pad_left) // r for k in range(self.kernel_size)]
        left, right = -min(q), max(q)
        terms = [((k - self.pad_left) % r, q[k] + left, float(h)) for k, h in enumerate(self._taps.tolist())]
        return left, right, terms

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
        params = _snake_params(self.act)
        r = self.upsample.ratio
        low = self.downsample.lowpass
        if params is not None and gpu_antialias_active(x, self.upsample.phase_plan(), r, low.stride):
            return snake_antialias_gpu(x, *params, self.upsample.phase_plan(), self.upsample.pad, low.taps,
                                       low.pad_left)  # one CUDA kernel (layers/gpu/antialias.py)
        if (params is None or x.dtype != mx.float32 or r != self.downsample.lowpass.stride
                or not fast_math_active(r * x.size)):
            return self.downsample(self.act(self.upsample(x)))
        if native.library() is not None:
            y = native.snake_antialias(x, *params, self.upsample.phase_plan(), self.upsample.pad,
                                       self.downsample.lowpass.phase_plan())
            if y is not None:
                return y
        x = mx.pad(x, [(0, 0), (self.upsample.pad, self.upsample.pad), (0, 0)], mode="edge")
        return _fused(self.upsample, self.downsample.lowpass)(x, *params)


def _snake_params(act: nn.Module) -> tuple[mx.array, mx.array] | None:
    """(alpha, 1 / (scale + eps)) of a Snake1d / SnakeBeta activation; None for any other."""
    name = type(act).__name__
    if name not in ("Snake1d", "SnakeBeta"):
        return None
    alpha = mx.exp(act.alpha) if act.logscale else act.alpha
    scale = alpha if name == "Snake1d" else (mx.exp(act.beta) if act.logscale else act.beta)
    return alpha, mx.reciprocal(scale + 1e-9)


_fused_cache: dict[tuple, object] = {}


def _fused(up: UpSample1d, down: LowPassFilter1d):
    """upsample -> Snake -> low-pass + decimate, phase by phase (no interleaved 2x signal), compiled once per
    resampler pair: (x edge-padded (B, T + 2 pad, C), alpha (C,), 1 / scale (C,)) -> (B, T, C)."""
    key = (up.ratio, up.kernel_size, down.kernel_size, up.taps.tobytes(), down.taps.tobytes())
    if key not in _fused_cache:
        r, up_plan = up.ratio, up.phase_plan()
        left, right, terms = down.phase_plan()

        def fused(x: mx.array, alpha: mx.array, inv_scale: mx.array) -> mx.array:
            T = x.shape[1] - 2 * up.pad
            phases = []
            for start, h in up_plan:
                y = _fir(x[:, start:], (r * h).astype(np.float32), T)  # the upsampler's gain r folded in
                phases.append(_snake_finish(y, _snake_reduce(y, alpha), inv_scale))
            B, _, C = x.shape
            first, last = phases[0][:, :1], phases[-1][:, -1:]  # u[0], u[r T - 1]: the replicated edges
            ext = [mx.concatenate([mx.broadcast_to(first, (B, left, C)), p, mx.broadcast_to(last, (B, right, C))],
                                  axis=1) for p in phases]
            out = None
            for s, offset, h in terms:
                term = ext[s][:, offset : offset + T] * h
                out = term if out is None else out + term
            return out

        _fused_cache[key] = mx.compile(fused)
    return _fused_cache[key]
