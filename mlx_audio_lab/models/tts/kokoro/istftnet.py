"""The iSTFTNet decoder: harmonic-plus-noise source, upsampling generator, and `dsp.istft` at the end."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....dsp import istft, stft
from ....layers.conv import Conv1d, ConvTranspose1d
from ....layers.cpu.elementwise import polar, ufunc
from ....layers.fast_math import fast_math_active
from ....taps import tap
from .config import ISTFTNetConfig
from .modules import AdaIN1d, AdainResBlk1d, adain_snake, leaky


def interp_linear(x: mx.array, out_len: int, scale: float) -> mx.array:
    """torch's `F.interpolate(mode="linear", scale_factor=1/scale)` on (B, T, C), same float32 arithmetic."""
    n = x.shape[1]
    src = mx.maximum(mx.array(np.float32(scale)) * (mx.arange(out_len, dtype=mx.float32) + 0.5) - 0.5, 0.0)
    i0 = mx.minimum(src.astype(mx.int32), n - 1)
    lam = mx.clip(src - i0.astype(mx.float32), 0.0, 1.0)[None, :, None]
    i1 = mx.minimum(i0 + 1, n - 1)
    return (1.0 - lam) * x[:, i0] + lam * x[:, i1]


class SineGen(nn.Module):
    """F0 -> sines of the fundamental and 8 overtones (phase integrated at frame rate), voiced flag, noise.

    The random initial phases `rand_ini` (B, dim) and the noise `noise` (B, L, dim) can be passed in, so two
    implementations can be run on the same draws.
    """

    def __init__(self, sample_rate: int, upsample_scale: int, harmonic_num: int = 8, sine_amp: float = 0.1,
                 noise_std: float = 0.003, voiced_threshold: float = 10.0):
        super().__init__()
        self.sr, self.scale, self.dim = sample_rate, upsample_scale, harmonic_num + 1
        self.sine_amp, self.noise_std, self.threshold = sine_amp, noise_std, voiced_threshold

    def __call__(self, f0: mx.array, rand_ini: mx.array, noise: mx.array) -> tuple[mx.array, mx.array]:
        """f0 (B, L, 1) at the sample rate -> (sines (B, L, dim), uv (B, L, 1))."""
        fn = f0 * mx.arange(1, self.dim + 1, dtype=mx.float32)
        rad = fn / self.sr
        # y - floor(y) is remainder(y, 1) bit for bit (torch's `% 1` too); MLX's CPU remainder is 9x slower
        rad = rad - mx.floor(rad) if fast_math_active(rad.size) else mx.remainder(rad, 1.0)
        rad = mx.concatenate([rad[:, :1] + rand_ini[:, None, :], rad[:, 1:]], axis=1)
        L = rad.shape[1]
        frames = int(math.floor(L / self.scale))
        rad = interp_linear(rad, frames, float(self.scale))  # down to the frame rate
        # torch's CPU cumsum accumulates float32 in double: do the same (phases reach thousands of radians)
        phase = mx.array(np.cumsum(np.array(rad, dtype=np.float64), axis=1).astype(np.float32)) * 2 * math.pi
        phase = interp_linear(phase * self.scale, frames * self.scale, 1.0 / self.scale)
        sines = _sin(phase) * self.sine_amp
        uv = (f0 > self.threshold).astype(mx.float32)
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        return sines * uv + noise_amp * noise, uv


class SourceModuleHnNSF(nn.Module):
    """The harmonic source: SineGen's harmonics merged by a Linear + tanh into one excitation."""

    def __init__(self, sample_rate: int, upsample_scale: int, harmonic_num: int = 8):
        super().__init__()
        self.l_sin_gen = SineGen(sample_rate, upsample_scale, harmonic_num)
        self.l_linear = nn.Linear(harmonic_num + 1, 1)

    def __call__(self, f0: mx.array, rand_ini: mx.array, noise: mx.array) -> mx.array:
        sines, _ = self.l_sin_gen(f0, rand_ini, noise)
        return mx.tanh(self.l_linear(sines))


class AdaINResBlock1(nn.Module):
    """HiFi-GAN's ResBlock1 with AdaIN and Snake: three dilated conv pairs, each residual."""

    def __init__(self, channels: int, kernel_size: int, dilation: list[int], style_dim: int):
        super().__init__()
        pad = [(kernel_size * d - d) // 2 for d in dilation]
        self.convs1 = [Conv1d(channels, channels, kernel_size, dilation=d, padding=p)
                       for d, p in zip(dilation, pad)]
        self.convs2 = [Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2)
                       for _ in dilation]
        self.adain1 = [AdaIN1d(style_dim, channels) for _ in dilation]
        self.adain2 = [AdaIN1d(style_dim, channels) for _ in dilation]
        self.alpha1 = [mx.ones((1, 1, channels)) for _ in dilation]
        self.alpha2 = [mx.ones((1, 1, channels)) for _ in dilation]

    def __call__(self, x: mx.array, s: mx.array) -> mx.array:
        for c1, c2, n1, n2, a1, a2 in zip(self.convs1, self.convs2, self.adain1, self.adain2,
                                          self.alpha1, self.alpha2):
            x = x + c2(adain_snake(n2, c1(adain_snake(n1, x, s, a1)), s, a2))
        return x


class Generator(nn.Module):
    """Features (B, F2, C) + F0 -> audio: upsample x10, x6 with the source mixed in, conv_post, iSTFT."""

    def __init__(self, style_dim: int, cfg: ISTFTNetConfig, sample_rate: int = 24000):
        super().__init__()
        self.cfg = cfg
        rates, ch0 = cfg.upsample_rates, cfg.upsample_initial_channel
        self.scale = math.prod(rates) * cfg.gen_istft_hop_size
        self.m_source = SourceModuleHnNSF(sample_rate, self.scale, harmonic_num=8)
        n_fft = cfg.gen_istft_n_fft
        self.ups, self.resblocks, self.noise_convs, self.noise_res = [], [], [], []
        for i, (u, k) in enumerate(zip(rates, cfg.upsample_kernel_sizes)):
            c = ch0 // 2 ** (i + 1)
            self.ups.append(ConvTranspose1d(ch0 // 2**i, c, k, u, padding=(k - u) // 2))
            self.resblocks += [AdaINResBlock1(c, kk, d, style_dim)
                               for kk, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)]
            if i + 1 < len(rates):
                sf = math.prod(rates[i + 1:])
                self.noise_convs.append(Conv1d(n_fft + 2, c, sf * 2, stride=sf, padding=(sf + 1) // 2))
                self.noise_res.append(AdaINResBlock1(c, 7, [1, 3, 5], style_dim))
            else:
                self.noise_convs.append(Conv1d(n_fft + 2, c, 1))
                self.noise_res.append(AdaINResBlock1(c, 11, [1, 3, 5], style_dim))
        self.conv_post = Conv1d(c, n_fft + 2, 7, padding=3)

    def source(self, f0_curve: mx.array, rand_ini: mx.array, noise: mx.array) -> mx.array:
        """F0 (B, F2) -> the harmonic source's STFT [magnitude, phase] (B, frames, n_fft + 2)."""
        f0 = mx.repeat(f0_curve[..., None], self.scale, axis=1)  # nearest upsampling to the sample rate
        har = self.m_source(f0, rand_ini, noise)[..., 0]
        tap("decoder.generator.m_source", har)
        n_fft, hop = self.cfg.gen_istft_n_fft, self.cfg.gen_istft_hop_size
        spec = stft(har, n_fft, hop, n_fft, window="hann")
        if fast_math_active(spec.size):  # NumPy's SIMD hypot / arctan2 (MLX's CPU ones are scalar)
            z = np.asarray(spec)
            out = mx.array(np.concatenate([np.abs(z), np.arctan2(z.imag, z.real)], axis=-1))
            mag, phase = out[..., : z.shape[-1]], out[..., z.shape[-1] :]
        else:
            mag, phase = mx.abs(spec), mx.arctan2(spec.imag, spec.real)
            out = mx.concatenate([mag, phase], axis=-1)
        tap("decoder.generator.source_mag", mag)
        tap("decoder.generator.source_phase", phase)  # +-pi where imag ~ 0: see reference.phase_flips
        return out

    def __call__(self, x: mx.array, s: mx.array, f0_curve: mx.array | None = None, rand_ini: mx.array | None = None,
                 noise: mx.array | None = None, har: mx.array | None = None) -> mx.array:
        """x (B, F2, C0), s (B, S), F0 (B, F2) -> audio (B, F2 * scale).

        `har` (B, frames, n_fft + 2), when given, replaces the source spectrum (teacher forcing in parity).
        """
        if har is None:
            har = self.source(f0_curve, rand_ini, noise)
        k = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = leaky(x, 0.1)
            x_source = tap(f"decoder.generator.noise_res.{i}", self.noise_res[i](self.noise_convs[i](har), s))
            x = up(x)
            if i == len(self.ups) - 1:
                x = mx.concatenate([x[:, 1:2], x], axis=1)  # ReflectionPad1d((1, 0))
            x = x + x_source
            xs = self.resblocks[i * k](x, s)
            for j in range(1, k):
                xs = xs + self.resblocks[i * k + j](x, s)
            x = xs / k
        x = tap("decoder.generator.conv_post", self.conv_post(leaky(x, 0.01)))
        spec = head_spectrum(x, self.cfg.gen_istft_n_fft // 2 + 1)
        n_fft, hop = self.cfg.gen_istft_n_fft, self.cfg.gen_istft_hop_size
        return istft(spec, n_fft, hop, n_fft, window="hann")


def _sin(x: mx.array) -> mx.array:
    """sin, on NumPy's SIMD loop for large float32 arrays on the CPU (MLX's CPU sin is scalar)."""
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        return mx.sin(x)
    return ufunc(np.sin, x)


def head_spectrum(x: mx.array, half: int) -> mx.array:
    """conv_post's output (B, frames, 2 * half) -> the complex spectrum exp(m) e^{i sin(p)} (B, frames, half);
    on the CPU for large float32 inputs in NumPy (SIMD exp, sin, cos) in one go."""
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        mag, phase = mx.exp(x[..., :half]), mx.sin(x[..., half:])
        return mag * mx.cos(phase) + 1j * (mag * mx.sin(phase))
    xs = np.asarray(x)
    return polar(xs[..., :half], np.sin(xs[..., half:]))


class Decoder(nn.Module):
    """Aligned text features + F0 + N + style -> audio (StyleTTS 2's decoder with an iSTFTNet generator)."""

    def __init__(self, dim_in: int, style_dim: int, cfg: ISTFTNetConfig, sample_rate: int = 24000):
        super().__init__()
        self.encode = AdainResBlk1d(dim_in + 2, 1024, style_dim)
        self.decode = [AdainResBlk1d(1024 + 2 + 64, 1024, style_dim) for _ in range(3)]
        self.decode.append(AdainResBlk1d(1024 + 2 + 64, 512, style_dim, upsample=True))
        self.F0_conv = Conv1d(1, 1, 3, stride=2, padding=1)
        self.N_conv = Conv1d(1, 1, 3, stride=2, padding=1)
        self.asr_res = [Conv1d(512, 64, 1)]
        self.generator = Generator(style_dim, cfg, sample_rate)

    def __call__(self, asr: mx.array, f0_curve: mx.array, n: mx.array, s: mx.array, rand_ini: mx.array,
                 noise: mx.array) -> mx.array:
        """asr (B, F, C), F0 and N (B, 2F), s (B, S) -> audio (B, 2F * scale)."""
        f0 = self.F0_conv(f0_curve[..., None])
        n = self.N_conv(n[..., None])
        x = self.encode(mx.concatenate([asr, f0, n], axis=-1), s)
        asr_res = self.asr_res[0](asr)
        res = True
        for i, block in enumerate(self.decode):
            if res:  # the residual inputs are concatenated until the block that upsamples
                x = mx.concatenate([x, asr_res, f0, n], axis=-1)
            x = tap(f"decoder.decode.{i}", block(x, s))
            res = res and not block.upsample
        return self.generator(x, s, f0_curve, rand_ini, noise)
