"""The WeNet Conformer encoder of IndexTTS's conditioning: Conv2d subsampling by 2, relative-position attention
without the shift (WeNet's variant), a LayerNorm convolution module, SiLU feed-forward. Channels-last."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ....layers.conv import Conv1d
from ....taps import tap
from .config import ConformerConfig


def sinusoids(length: int, dims: int) -> mx.array:
    """Absolute sinusoids (length, dims): sin on even channels, cos on odd (WeNet's `pe` table)."""
    inv = mx.exp(mx.arange(0, dims, 2, dtype=mx.float32) * -(math.log(10000.0) / dims))
    ang = mx.arange(length, dtype=mx.float32)[:, None] * inv[None]
    return mx.stack([mx.sin(ang), mx.cos(ang)], axis=-1).reshape(length, dims)


class Subsampling2(nn.Module):
    """(B, T, F) -> (B, (T - 1) // 2, d) scaled by sqrt(d), and the position table ((T - 1) // 2, d)."""

    def __init__(self, idim: int, odim: int):
        super().__init__()
        self.conv = [nn.Conv2d(1, odim, 3, stride=2)]
        self.out = [nn.Linear(odim * ((idim - 1) // 2), odim)]
        self.scale = math.sqrt(odim)

    def __call__(self, x: mx.array) -> tuple[mx.array, mx.array]:
        x = nn.relu(self.conv[0](x[..., None]))  # (B, T', F', C)
        B, T, F, C = x.shape
        x = self.out[0](x.transpose(0, 1, 3, 2).reshape(B, T, C * F))  # torch flattens (C, F)
        return x * self.scale, sinusoids(T, x.shape[-1])


class RelPosSelfAttention(nn.Module):
    """WeNet's `RelPositionMultiHeadedAttention`: content + position scores, biases u / v, no relative shift."""

    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.h, self.d_k = heads, dims // heads
        self.linear_q, self.linear_k = nn.Linear(dims, dims), nn.Linear(dims, dims)
        self.linear_v, self.linear_out = nn.Linear(dims, dims), nn.Linear(dims, dims)
        self.linear_pos = nn.Linear(dims, dims, bias=False)
        self.pos_bias_u = mx.zeros((heads, self.d_k))
        self.pos_bias_v = mx.zeros((heads, self.d_k))

    def _split(self, x: mx.array) -> mx.array:
        return x.reshape(x.shape[0], x.shape[1], self.h, self.d_k)  # (B, T, H, Dk)

    def __call__(self, x: mx.array, pos: mx.array) -> mx.array:
        q, k, v = self._split(self.linear_q(x)), self._split(self.linear_k(x)), self._split(self.linear_v(x))
        p = self._split(self.linear_pos(pos)[None]).transpose(0, 2, 3, 1)  # (1, H, Dk, T)
        k, v = k.transpose(0, 2, 3, 1), v.transpose(0, 2, 1, 3)  # (B, H, Dk, T), (B, H, T, Dk)
        ac = (q + self.pos_bias_u).transpose(0, 2, 1, 3) @ k
        bd = (q + self.pos_bias_v).transpose(0, 2, 1, 3) @ p
        w = mx.softmax((ac + bd) / math.sqrt(self.d_k), axis=-1, precise=True)
        out = (w @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        return self.linear_out(out)


class ConvModule(nn.Module):
    """Pointwise GLU, depthwise conv, LayerNorm, SiLU, pointwise: (B, T, C) -> (B, T, C)."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.pointwise_conv1 = Conv1d(channels, 2 * channels, 1)
        self.depthwise_conv = Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2,
                                     groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-5)
        self.pointwise_conv2 = Conv1d(channels, channels, 1)

    def __call__(self, x: mx.array) -> mx.array:
        x = nn.glu(self.pointwise_conv1(x), axis=-1)
        return self.pointwise_conv2(nn.silu(self.norm(self.depthwise_conv(x))))


class FeedForward(nn.Module):
    def __init__(self, dims: int, hidden: int):
        super().__init__()
        self.w_1, self.w_2 = nn.Linear(dims, hidden), nn.Linear(hidden, dims)

    def __call__(self, x: mx.array) -> mx.array:
        return self.w_2(nn.silu(self.w_1(x)))


class ConformerLayer(nn.Module):
    """Pre-norm: attention, convolution, feed-forward (no macaron half-step), each residual; final LayerNorm."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        d = cfg.output_size
        self.self_attn = RelPosSelfAttention(d, cfg.attention_heads)
        self.feed_forward = FeedForward(d, cfg.linear_units)
        self.conv_module = ConvModule(d, cfg.cnn_module_kernel)
        self.norm_ff, self.norm_mha = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.norm_conv, self.norm_final = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)

    def __call__(self, x: mx.array, pos: mx.array) -> mx.array:
        x = x + self.self_attn(self.norm_mha(x), pos)
        x = x + self.conv_module(self.norm_conv(x))
        x = x + self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class ConformerEncoder(nn.Module):
    """(B, T, input_size) features -> (B, (T - 1) // 2, output_size). Taps under `name`."""

    def __init__(self, cfg: ConformerConfig, name: str):
        super().__init__()
        if cfg.input_layer != "conv2d2":
            raise ValueError(f"input_layer {cfg.input_layer!r}: only 'conv2d2' (IndexTTS 2's) is ported")
        self.name = name
        self.embed = Subsampling2(cfg.input_size, cfg.output_size)
        self.encoders = [ConformerLayer(cfg) for _ in range(cfg.num_blocks)]
        self.after_norm = nn.LayerNorm(cfg.output_size, eps=1e-5)

    def __call__(self, x: mx.array) -> mx.array:
        x, pos = self.embed(x)
        x = tap(f"{self.name}.embed", x)
        for i, layer in enumerate(self.encoders):
            x = tap(f"{self.name}.encoders.{i}", layer(x, pos))
        return tap(self.name, self.after_norm(x))
