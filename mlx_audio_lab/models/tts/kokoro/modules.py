"""Style-conditioned blocks, the text encoder and the prosody predictor (StyleTTS 2 names), channels-last."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers.conv import Conv1d, ConvTranspose1d
from ....layers.cpu.elementwise import affine_leaky, affine_snake, channel_moments, leaky_relu
from ....layers.fast_math import fast_math_active
from ....layers.gpu import elementwise as gpu_elementwise
from ....layers.gpu import gpu_kernels_active
from ....layers.lstm import LSTM
from ....layers.snake import snake
from ....taps import tap

RSQRT2 = 1.0 / math.sqrt(2.0)


def leaky(x: mx.array, slope: float) -> mx.array:
    """LeakyReLU; on NumPy's SIMD loops for large float32 inputs on the CPU (`elementwise.leaky_relu`)."""
    if x.dtype == mx.float32 and fast_math_active(x.size):
        return leaky_relu(x, slope)
    return mx.where(x >= 0, x, slope * x)


class AdaIN1d(nn.Module):
    """Instance norm whose scale and shift come from the style: (1 + gamma) * norm(x) + beta."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.norm = nn.Module()
        self.norm.weight, self.norm.bias = mx.ones((channels,)), mx.zeros((channels,))
        self.fc = nn.Linear(style_dim, 2 * channels)

    def __call__(self, x: mx.array, s: mx.array) -> mx.array:
        """x (B, T, C), s (B, S) -> (B, T, C)."""
        return gpu_elementwise.adain(x, *self.style_affine(s))

    def style_affine(self, s: mx.array) -> tuple[mx.array, mx.array, mx.array, mx.array]:
        """gamma, beta (B, 1, C) from the style s (B, S), and the norm's own weight and bias (C,)."""
        gamma, beta = mx.split(self.fc(s)[:, None, :], 2, axis=-1)
        return gamma, beta, self.norm.weight, self.norm.bias

    def channel_affine(self, s: mx.array, mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The whole map as (x - mean) * scale + shift per channel, from the style s (B, S) and x's statistics
        (B, C) -> scale, shift (B, C) float64."""
        gamma, beta = np.split(np.array(self.fc(s), np.float64), 2, axis=-1)
        w, b = np.array(self.norm.weight, np.float64), np.array(self.norm.bias, np.float64)
        scale = (1 + gamma) * w / np.sqrt(var + 1e-5)
        return scale, (1 + gamma) * b + beta


def _fused(x: mx.array) -> bool:
    """Whether the AdaIN + activation of x takes the CPU's fused path (large float32 input, fast paths on)."""
    return x.dtype == mx.float32 and x.ndim == 3 and fast_math_active(x.size)


def adain_snake(norm: AdaIN1d, x: mx.array, s: mx.array, alpha: mx.array) -> mx.array:
    """snake(norm(x, s), alpha) without eps, (B, T, C) -> (B, T, C); on the CPU for large float32 inputs the
    statistics and the normalise-scale-Snake chain each take one pass over x (`layers/cpu/elementwise.py`); on
    a CUDA GPU the chain is one compiled function (`layers/gpu/elementwise.py`)."""
    if gpu_kernels_active():
        return gpu_elementwise.adain_snake(x, *norm.style_affine(s), alpha, mx.reciprocal(alpha))
    if not _fused(x):
        return snake(norm(x, s), alpha, eps=0.0)
    mean, var = channel_moments(x)
    scale, shift = norm.channel_affine(s, mean, var)
    a = np.array(alpha, np.float32).reshape(-1)
    return affine_snake(x, mean, scale, shift, a, 1.0 / a)


def adain_leaky(norm: AdaIN1d, x: mx.array, s: mx.array, slope: float) -> mx.array:
    """leaky(norm(x, s), slope), (B, T, C) -> (B, T, C); fused on the CPU and the GPU as `adain_snake`."""
    if gpu_kernels_active():
        return gpu_elementwise.adain_leaky(x, *norm.style_affine(s), mx.array(slope, x.dtype))
    if not _fused(x):
        return leaky(norm(x, s), slope)
    mean, var = channel_moments(x)
    return affine_leaky(x, mean, *norm.channel_affine(s, mean, var), slope)


class AdaLayerNorm(nn.Module):
    """LayerNorm over channels (no affine) with style scale and shift."""

    def __init__(self, style_dim: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.fc = nn.Linear(style_dim, 2 * channels)

    def __call__(self, x: mx.array, s: mx.array) -> mx.array:
        gamma, beta = mx.split(self.fc(s)[:, None, :], 2, axis=-1)
        return (1 + gamma) * mx.fast.layer_norm(x, None, None, self.eps) + beta


class LayerNorm(nn.Module):
    """StyleTTS 2's channel LayerNorm (parameters `gamma`, `beta`)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma, self.beta = mx.ones((channels,)), mx.zeros((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        return mx.fast.layer_norm(x, self.gamma, self.beta, self.eps)


class AdainResBlk1d(nn.Module):
    """AdaIN -> LeakyReLU -> (upsample) -> conv3 -> AdaIN -> LeakyReLU -> conv3, plus shortcut, over sqrt 2."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv1 = Conv1d(dim_in, dim_out, 3, padding=1)
        self.conv2 = Conv1d(dim_out, dim_out, 3, padding=1)
        self.norm1 = AdaIN1d(style_dim, dim_in)
        self.norm2 = AdaIN1d(style_dim, dim_out)
        if dim_in != dim_out:
            self.conv1x1 = Conv1d(dim_in, dim_out, 1, bias=False)
        if upsample:
            self.pool = ConvTranspose1d(dim_in, dim_in, 3, stride=2, padding=1, output_padding=1, groups=dim_in)

    def __call__(self, x: mx.array, s: mx.array) -> mx.array:
        """(B, T, dim_in) -> (B, T or 2T, dim_out)."""
        h = adain_leaky(self.norm1, x, s, 0.2)
        if self.upsample:
            h = self.pool(h)
        h = self.conv2(adain_leaky(self.norm2, self.conv1(h), s, 0.2))
        sc = mx.repeat(x, 2, axis=1) if self.upsample else x
        if "conv1x1" in self:
            sc = self.conv1x1(sc)
        return (h + sc) * RSQRT2


class TextEncoder(nn.Module):
    """Phoneme embedding -> `depth` x (conv, LayerNorm, LeakyReLU) -> BiLSTM: the acoustic text features."""

    def __init__(self, channels: int, kernel_size: int, depth: int, n_symbols: int):
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        pad = (kernel_size - 1) // 2
        self.cnn = [[Conv1d(channels, channels, kernel_size, padding=pad), LayerNorm(channels)]
                    for _ in range(depth)]
        self.lstm = LSTM(channels, channels // 2, 1, bidirectional=True)

    def __call__(self, ids: mx.array) -> mx.array:
        """(B, T) -> (B, T, channels)."""
        x = self.embedding(ids)
        for conv, norm in self.cnn:
            x = leaky(norm(conv(x)), 0.2)
        return self.lstm(x)


class DurationEncoder(nn.Module):
    """Alternating BiLSTM and AdaLayerNorm, the style concatenated to the features after each norm."""

    def __init__(self, style_dim: int, d_model: int, nlayers: int):
        super().__init__()
        self.lstms: list[nn.Module] = []
        for _ in range(nlayers):
            self.lstms += [LSTM(d_model + style_dim, d_model // 2, 1, bidirectional=True),
                           AdaLayerNorm(style_dim, d_model)]

    def __call__(self, x: mx.array, s: mx.array) -> mx.array:
        """x (B, T, d_model), s (B, S) -> (B, T, d_model + S)."""
        s_t = mx.broadcast_to(s[:, None, :], (x.shape[0], x.shape[1], s.shape[-1]))
        x = mx.concatenate([x, s_t], axis=-1)
        for block in self.lstms:
            if isinstance(block, AdaLayerNorm):
                x = mx.concatenate([block(x, s), s_t], axis=-1)
            else:
                x = block(x)
        return x


class LinearNorm(nn.Module):
    """A Linear under StyleTTS 2's name (`linear_layer`)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear_layer = nn.Linear(d_in, d_out)

    def __call__(self, x: mx.array) -> mx.array:
        return self.linear_layer(x)


class ProsodyPredictor(nn.Module):
    """Durations per phoneme, then F0 and energy (N) curves per frame (at twice the frame rate)."""

    def __init__(self, style_dim: int, d_hid: int, nlayers: int, max_dur: int):
        super().__init__()
        self.text_encoder = DurationEncoder(style_dim, d_hid, nlayers)
        self.lstm = LSTM(d_hid + style_dim, d_hid // 2, 1, bidirectional=True)
        self.duration_proj = LinearNorm(d_hid, max_dur)
        self.shared = LSTM(d_hid + style_dim, d_hid // 2, 1, bidirectional=True)
        self.F0 = [AdainResBlk1d(d_hid, d_hid, style_dim), AdainResBlk1d(d_hid, d_hid // 2, style_dim, True),
                   AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim)]
        self.N = [AdainResBlk1d(d_hid, d_hid, style_dim), AdainResBlk1d(d_hid, d_hid // 2, style_dim, True),
                  AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim)]
        self.F0_proj = Conv1d(d_hid // 2, 1, 1)
        self.N_proj = Conv1d(d_hid // 2, 1, 1)

    def durations(self, d: mx.array, speed: float = 1.0) -> mx.array:
        """Duration-encoded features d (B, T, H + S) -> expected frames per phoneme (B, T), before rounding."""
        logits = tap("predictor.duration_proj", self.duration_proj(self.lstm(d)))
        return mx.sigmoid(logits).sum(axis=-1) / speed

    def F0Ntrain(self, en: mx.array, s: mx.array) -> tuple[mx.array, mx.array]:
        """Aligned features (B, F, H + S) -> F0 and N curves, each (B, 2F)."""
        x = tap("predictor.shared", self.shared(en))
        f0, n = x, x
        for block in self.F0:
            f0 = block(f0, s)
        for block in self.N:
            n = block(n, s)
        return self.F0_proj(f0)[..., 0], self.N_proj(n)[..., 0]
