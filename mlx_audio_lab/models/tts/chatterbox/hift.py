"""HiFT (HiFTNet: neural source filter + iSTFTNet), S3Gen's vocoder: mel (B, T, 80) -> 24 kHz audio (B, 480 T).

An F0 predictor reads the pitch off the mel; a sine source at that pitch (plus harmonics and noise) is mixed into
a HiFi-GAN upsampler through its STFT; the last conv predicts a log-magnitude and a phase per bin, `dsp.istft`
turns them into samples. The random draws (initial phases, noise) can be passed in, so the reference's match.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....dsp import istft, stft
from ....layers.conv import Conv1d, ConvTranspose1d
from ....layers.cpu.elementwise import ufunc
from ....layers.fast_math import ELU, fast_math_active
from ....layers.snake import Snake1d
from ....taps import tap
from .config import HiFTConfig


class ResBlock(nn.Module):
    """HiFi-GAN's ResBlock with Snake: per dilation, snake -> dilated conv -> snake -> conv, residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = [Conv1d(channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2)
                       for d in dilations]
        self.convs2 = [Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2) for _ in dilations]
        self.activations1 = [Snake1d(channels) for _ in dilations]
        self.activations2 = [Snake1d(channels) for _ in dilations]

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T, C)."""
        for c1, c2, a1, a2 in zip(self.convs1, self.convs2, self.activations1, self.activations2):
            x = x + c2(a2(c1(a1(x))))
        return x


class F0Predictor(nn.Module):
    """Five conv + ELU layers and a Linear: mel (B, T, 80) -> |F0| in Hz (B, T)."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        convs = [Conv1d(in_channels if i == 0 else channels, channels, 3, padding=1) for i in range(5)]
        self.condnet = [m for c in convs for m in (c, ELU())]  # keeps the Sequential's indices 0, 2, ..., 8
        self.classifier = nn.Linear(channels, 1)

    def __call__(self, mel: mx.array) -> mx.array:
        x = mel
        for layer in self.condnet:
            x = layer(x)
        return mx.abs(self.classifier(x)[..., 0])


def sine_source(f0: mx.array, phases: mx.array, noise: mx.array, cfg: HiFTConfig) -> mx.array:
    """F0 at the sample rate (B, L) -> voiced sines of the fundamental and its harmonics plus noise (B, L, H+1).

    phases (B, H+1): initial phase per harmonic (the fundamental's is 0); noise (B, L, H+1): standard normal.
    """
    harmonics = mx.arange(1, cfg.nb_harmonics + 2, dtype=mx.float32)
    freq = f0[..., None] * harmonics / cfg.sampling_rate  # cycles per sample (B, L, H+1)
    # torch's CPU cumsum accumulates float32 in double: so here (the phase reaches thousands of cycles)
    cycles = np.cumsum(np.array(freq, dtype=np.float64), axis=1).astype(np.float32)
    if fast_math_active(cycles.size):  # c - floor(c) is remainder(c, 1) bit for bit; NumPy's SIMD sin
        theta = 2 * math.pi * mx.array(cycles - np.floor(cycles))
        sines = cfg.nsf_alpha * ufunc(np.sin, theta + phases[:, None, :])
    else:
        theta = 2 * math.pi * mx.remainder(mx.array(cycles), 1.0)
        sines = cfg.nsf_alpha * mx.sin(theta + phases[:, None, :])
    uv = (f0 > cfg.nsf_voiced_threshold).astype(mx.float32)[..., None]
    noise_amp = uv * cfg.nsf_sigma + (1 - uv) * cfg.nsf_alpha / 3
    return sines * uv + noise_amp * noise


class SourceModule(nn.Module):
    """The harmonic-plus-noise source: sines merged by a Linear + tanh into one excitation."""

    def __init__(self, harmonics: int):
        super().__init__()
        self.l_linear = nn.Linear(harmonics + 1, 1)

    def __call__(self, sines: mx.array) -> mx.array:
        """(B, L, H+1) -> (B, L, 1)."""
        return mx.tanh(self.l_linear(sines))


class HiFT(nn.Module):
    """HiFTGenerator: mel -> F0 -> source; mel + source STFT -> upsampler -> magnitude, phase -> iSTFT."""

    def __init__(self, cfg: HiFTConfig):
        super().__init__()
        self.config = cfg
        self.f0_predictor = F0Predictor(cfg.in_channels, cfg.f0_channels)
        self.m_source = SourceModule(cfg.nb_harmonics)
        base = cfg.base_channels
        self.conv_pre = Conv1d(cfg.in_channels, base, 7, padding=3)
        self.ups = [ConvTranspose1d(base // 2**i, base // 2 ** (i + 1), k, u, padding=(k - u) // 2)
                    for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes))]
        down = np.cumprod([1, *cfg.upsample_rates[::-1][:-1]])[::-1]  # source frames per stage frame (15, 3, 1)
        self.source_downs, self.source_resblocks = [], []
        for i, (u, k, d) in enumerate(zip(down, cfg.source_resblock_kernel_sizes,
                                          cfg.source_resblock_dilation_sizes)):
            c, u = base // 2 ** (i + 1), int(u)
            self.source_downs.append(Conv1d(cfg.n_fft + 2, c, 1) if u == 1 else
                                     Conv1d(cfg.n_fft + 2, c, 2 * u, stride=u, padding=u // 2))
            self.source_resblocks.append(ResBlock(c, k, d))
        self.resblocks = [ResBlock(base // 2 ** (i + 1), k, d) for i in range(len(self.ups))
                          for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)]
        self.conv_post = Conv1d(base // 2 ** len(self.ups), cfg.n_fft + 2, 7, padding=3)

    def source(self, mel: mx.array, phases: mx.array | None = None, noise: mx.array | None = None) -> mx.array:
        """mel (B, T, 80) -> the excitation (B, 480 T, 1); draws made here when not given."""
        cfg = self.config
        f0 = tap("hift.f0_predictor", self.f0_predictor(mel))
        f0 = mx.repeat(f0, cfg.upsample_scale, axis=1)  # nearest upsampling to the sample rate (B, L)
        b, n = f0.shape[0], cfg.nb_harmonics + 1
        if phases is None:
            phases = mx.random.uniform(-math.pi, math.pi, (b, n)) * (mx.arange(n) > 0)
        if noise is None:
            noise = mx.random.normal((b, f0.shape[1], n))
        return tap("hift.m_source", self.m_source(sine_source(f0, phases, noise, cfg)))

    def spectrum(self, mel: mx.array, source: mx.array) -> tuple[mx.array, mx.array]:
        """mel (B, T, 80), source (B, L, 1) -> (magnitude, phase), each (B, L / hop + 1, n_fft / 2 + 1)."""
        cfg = self.config
        s = stft(source[..., 0], cfg.n_fft, cfg.hop_len, cfg.n_fft, window="hann")  # (B, frames, bins)
        s = mx.concatenate([s.real, s.imag], axis=-1)  # (B, frames, n_fft + 2)
        x = tap("hift.conv_pre", self.conv_pre(mel))
        k = len(cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = tap(f"hift.ups.{i}", up(nn.leaky_relu(x, cfg.lrelu_slope)))
            if i == len(self.ups) - 1:
                x = mx.concatenate([x[:, 1:2], x], axis=1)  # ReflectionPad1d((1, 0))
            si = tap(f"hift.source_downs.{i}", self.source_downs[i](s))
            x = x + tap(f"hift.source_resblocks.{i}", self.source_resblocks[i](si))
            xs = tap(f"hift.resblocks.{i * k}", self.resblocks[i * k](x))
            for j in range(1, k):
                xs = xs + tap(f"hift.resblocks.{i * k + j}", self.resblocks[i * k + j](x))
            x = xs / k
        x = tap("hift.conv_post", self.conv_post(nn.leaky_relu(x, cfg.final_slope)))
        half = cfg.n_fft // 2 + 1
        magnitude = tap("hift.magnitude", mx.exp(x[..., :half]))
        phase = tap("hift.phase", mx.sin(x[..., half:]))  # sin: the reference's (redundant) squashing
        return magnitude, phase

    def __call__(self, mel: mx.array, phases: mx.array | None = None, noise: mx.array | None = None,
                 source: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """mel (B, T, 80) -> (audio (B, 480 T) in [-0.99, 0.99], source (B, 480 T, 1))."""
        cfg = self.config
        if source is None:
            source = self.source(mel, phases, noise)
        magnitude, phase = self.spectrum(mel, source)
        magnitude = mx.minimum(magnitude, 1e2)
        spec = magnitude * mx.cos(phase) + 1j * (magnitude * mx.sin(phase))
        audio = istft(spec, cfg.n_fft, cfg.hop_len, cfg.n_fft, window="hann")
        return tap("hift.audio", mx.clip(audio, -cfg.audio_limit, cfg.audio_limit)), source
