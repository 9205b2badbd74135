"""BigVGAN (Lee et al., 2023), the universal neural vocoder: log-mel -> waveform by HiFi-GAN's generator with
anti-aliased multi-periodicity (AMP) blocks: every Snake / SnakeBeta runs at twice the rate between Kaiser-sinc
low-pass filters, so the periodic nonlinearity's harmonics do not alias back into the band.

conv_pre -> [ConvTranspose (x rate) -> mean of AMP blocks (kernels 3, 7, 11)] per stage -> activation_post ->
conv_post -> tanh (or clamp to [-1, 1]). Parameter names follow the `bigvgan` package (`ups.i.0`, `resblocks.k`,
`activations.j.act.alpha`); `convert.py` folds weight norm and drops the fixed filter buffers. Channels-last.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers.antialias import Activation1d
from ....layers.conv import Conv1d, ConvTranspose1d
from ....layers.snake import Snake1d, SnakeBeta
from ....taps import tap
from .config import BigVGANConfig


def padding_for(kernel_size: int, dilation: int = 1) -> int:
    """'same' padding of an odd kernel."""
    return (kernel_size * dilation - dilation) // 2


def anti_aliased(cfg: BigVGANConfig, channels: int) -> Activation1d:
    """The configured periodic activation, at twice the rate between the low-pass filters."""
    act = SnakeBeta if cfg.activation == "snakebeta" else Snake1d
    return Activation1d(act(channels, logscale=cfg.snake_logscale))


class AMPBlock1(nn.Module):
    """Residual units act -> conv(k, dilation d) -> act -> conv(k, 1), one per dilation, each added to its input."""

    def __init__(self, cfg: BigVGANConfig, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs1 = [Conv1d(channels, channels, kernel_size, padding=padding_for(kernel_size, d), dilation=d)
                       for d in dilations]
        self.convs2 = [Conv1d(channels, channels, kernel_size, padding=padding_for(kernel_size))
                       for _ in dilations]
        self.activations = [anti_aliased(cfg, channels) for _ in range(2 * len(dilations))]

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T, C)."""
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            x = x + c2(self.activations[2 * i + 1](c1(self.activations[2 * i](x))))
        return x


class AMPBlock2(nn.Module):
    """Residual units act -> conv(k, dilation d), one per dilation (no second conv)."""

    def __init__(self, cfg: BigVGANConfig, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs = [Conv1d(channels, channels, kernel_size, padding=padding_for(kernel_size, d), dilation=d)
                      for d in dilations]
        self.activations = [anti_aliased(cfg, channels) for _ in dilations]

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T, C)."""
        for conv, act in zip(self.convs, self.activations):
            x = x + conv(act(x))
        return x


class BigVGAN(nn.Module):
    """The generator: `decode(mel (n_mels, frames)) -> audio (frames * hop,)`."""

    def __init__(self, cfg: BigVGANConfig):
        super().__init__()
        self.config = cfg
        c0 = cfg.upsample_initial_channel
        self.conv_pre = Conv1d(cfg.num_mels, c0, 7, padding=3)
        self.ups = [[ConvTranspose1d(c0 // 2**i, c0 // 2 ** (i + 1), k, u, padding=(k - u) // 2)]
                    for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes))]
        block = AMPBlock1 if cfg.resblock == "1" else AMPBlock2
        self.resblocks = [block(cfg, c0 // 2 ** (i + 1), k, d) for i in range(len(self.ups))
                          for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)]
        ch = c0 // 2 ** len(self.ups)
        self.activation_post = anti_aliased(cfg, ch)
        self.conv_post = Conv1d(ch, 1, 7, padding=3, bias=cfg.use_bias_at_final)

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    @property
    def hop_length(self) -> int:
        return self.config.upsample_factor

    @property
    def decodes_features(self) -> bool:
        """A vocoder: `decode` takes a float log-mel (n_mels, frames), not integer codes."""
        return True

    def __call__(self, mel: mx.array) -> mx.array:
        """log-mel (B, frames, n_mels) -> audio (B, frames * hop, 1) in [-1, 1]."""
        x = tap("conv_pre", self.conv_pre(mel))
        n = len(self.config.resblock_kernel_sizes)
        for i, (up,) in enumerate(self.ups):
            x = tap(f"ups.{i}.0", up(x))  # (B, T * rate, C / 2)
            xs = None
            for j in range(n):
                y = tap(f"resblocks.{i * n + j}", self.resblocks[i * n + j](x))
                xs = y if xs is None else xs + y
            x = xs / n  # the mean of the AMP blocks (multi-receptive-field fusion)
        x = tap("activation_post", self.activation_post(x))
        x = tap("conv_post", self.conv_post(x))
        return mx.tanh(x) if self.config.use_tanh_at_final else mx.clip(x, -1.0, 1.0)

    def decode_batch(self, mel: mx.array) -> mx.array:
        """log-mel (B, frames, n_mels) -> audio (B, frames * hop) float32."""
        return self(mel.astype(self.conv_pre.weight.dtype))[..., 0].astype(mx.float32)

    def decode(self, mel: np.ndarray | mx.array) -> np.ndarray:
        """A log-mel (n_mels, frames), laid out as upstream's `get_mel_spectrogram` gives it -> float32 audio
        (frames * hop,) at `sample_rate`."""
        mel = mx.array(mel, dtype=mx.float32)
        if mel.ndim != 2 or mel.shape[0] != self.config.num_mels:
            raise ValueError(f"BigVGAN decodes a log-mel shaped (n_mels={self.config.num_mels}, frames); "
                             f"got shape {tuple(mel.shape)}")
        return np.array(self.decode_batch(mel.T[None])[0])
