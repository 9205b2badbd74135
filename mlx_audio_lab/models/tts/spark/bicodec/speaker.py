"""BiCodec's global (speaker) tokens: ECAPA-TDNN frame features of a mel spectrogram, a perceiver resampler to
32 latents, and residual finite scalar quantization (FSQ) of each latent into one of 4^6 = 4096 tokens.

Module names follow `spark_tts_lib.modules.speaker` (`speaker_encoder.layer2.se_res2block.1.convs.0`,
`perceiver_sampler.layers.0.0.to_kv`, `quantizer.project_in`), so weights load by name. Only the frame
features (`latent`) of ECAPA are used for tokens; its pooled x-vector head is a training output, not loaded.
Channels-last: mel (B, T, n_mels), ECAPA features (B, T, 1536), latents (B, 32, latent_dim).
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from .....layers.conv import Conv1d
from .....layers.factorized_vq import l2_normalize
from .....layers.fast_math import gelu
from .....taps import tap


class Conv1dReluBn(nn.Module):
    """conv -> ReLU -> batch norm (running statistics)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, padding: int = 0, dilation: int = 1):
        super().__init__()
        self.conv = Conv1d(c_in, c_out, kernel_size, padding=padding, dilation=dilation)
        self.bn = nn.BatchNorm(c_out)

    def __call__(self, x: mx.array) -> mx.array:
        return self.bn(nn.relu(self.conv(x)))


class Res2Conv1dReluBn(nn.Module):
    """Res2Net: channels split into `scale` groups; group i (after the first) adds the previous group's output."""

    def __init__(self, channels: int, kernel_size: int, padding: int, dilation: int, scale: int = 8):
        super().__init__()
        self.width, self.scale = channels // scale, scale
        n = scale if scale == 1 else scale - 1
        self.convs = [Conv1d(self.width, self.width, kernel_size, padding=padding, dilation=dilation)
                      for _ in range(n)]
        self.bns = [nn.BatchNorm(self.width) for _ in range(n)]

    def __call__(self, x: mx.array) -> mx.array:
        parts = mx.split(x, self.scale, axis=-1)
        out, sp = [], parts[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            sp = bn(nn.relu(conv(sp if i == 0 else sp + parts[i])))
            out.append(sp)
        if self.scale != 1:
            out.append(parts[len(self.convs)])
        return mx.concatenate(out, axis=-1)


class SEConnect(nn.Module):
    """Squeeze-excitation: channel gates from the time-mean."""

    def __init__(self, channels: int, bottleneck: int = 128):
        super().__init__()
        self.linear1 = nn.Linear(channels, bottleneck)
        self.linear2 = nn.Linear(bottleneck, channels)

    def __call__(self, x: mx.array) -> mx.array:
        gate = mx.sigmoid(self.linear2(nn.relu(self.linear1(x.mean(axis=1)))))
        return x * gate[:, None]


class SERes2Block(nn.Module):
    """x + SE(conv1x1(Res2(conv1x1(x))))."""

    def __init__(self, channels: int, kernel_size: int, padding: int, dilation: int, scale: int):
        super().__init__()
        self.se_res2block = [Conv1dReluBn(channels, channels), Res2Conv1dReluBn(channels, kernel_size, padding,
                                                                                dilation, scale),
                             Conv1dReluBn(channels, channels), SEConnect(channels)]

    def __call__(self, x: mx.array) -> mx.array:
        y = x
        for layer in self.se_res2block:
            y = layer(y)
        return x + y


class EcapaTdnn(nn.Module):
    """ECAPA-TDNN (c512, global context) up to its frame features: (B, T, n_mels) -> (B, T, 1536)."""

    def __init__(self, feat_dim: int, channels: int = 512):
        super().__init__()
        self.layer1 = Conv1dReluBn(feat_dim, channels, kernel_size=5, padding=2)
        self.layer2 = SERes2Block(channels, 3, padding=2, dilation=2, scale=8)
        self.layer3 = SERes2Block(channels, 3, padding=3, dilation=3, scale=8)
        self.layer4 = SERes2Block(channels, 3, padding=4, dilation=4, scale=8)
        self.conv = Conv1d(channels * 3, 512 * 3, 1)

    def __call__(self, mel: mx.array) -> mx.array:
        out2 = self.layer2(self.layer1(mel))
        out3 = self.layer3(out2)
        out4 = self.layer4(out3)
        return nn.relu(self.conv(mx.concatenate([out2, out3, out4], axis=-1)))


class CrossAttention(nn.Module):
    """Latents attend to [latents; context] (multi-head, no bias, no norm)."""

    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8):
        super().__init__()
        self.heads, inner = heads, dim_head * heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def __call__(self, x: mx.array, context: mx.array) -> mx.array:
        B, N, _ = x.shape
        k, v = mx.split(self.to_kv(mx.concatenate([x, context], axis=1)), 2, axis=-1)

        def heads(t: mx.array) -> mx.array:  # (B, L, h * d) -> (B, h, L, d)
            return t.reshape(B, t.shape[1], self.heads, -1).transpose(0, 2, 1, 3)

        q, k, v = heads(self.to_q(x)), heads(k), heads(v)
        scores = (q @ k.transpose(0, 1, 3, 2)) * (q.shape[-1] ** -0.5)
        out = mx.softmax(scores, axis=-1, precise=True) @ v  # (B, h, N, d)
        return self.to_out(out.transpose(0, 2, 1, 3).reshape(B, N, -1))


class GegluFeedForward(nn.Module):
    """proj_in to 2 x inner, x * GELU(gate), proj_out (inner = int(dim * mult * 2 / 3))."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        inner = int(dim * mult * 2 / 3)
        self.proj_in = nn.Linear(dim, inner * 2)
        self.proj_out = nn.Linear(inner, dim)

    def __call__(self, x: mx.array) -> mx.array:
        x, gate = mx.split(self.proj_in(x), 2, axis=-1)
        return self.proj_out(gelu(gate) * x)


class PerceiverResampler(nn.Module):
    """Learned latents (num_latents, dim) refined by cross-attention + feed-forward over the context, RMS-normed."""

    def __init__(self, dim: int, dim_context: int, num_latents: int = 32, depth: int = 2):
        super().__init__()
        self.proj_context = nn.Linear(dim_context, dim)
        self.latents = mx.zeros((num_latents, dim))
        self.layers = [[CrossAttention(dim), GegluFeedForward(dim)] for _ in range(depth)]
        self.norm_gamma = mx.ones((dim,))

    def __call__(self, context: mx.array) -> mx.array:
        """(B, T, dim_context) -> (B, num_latents, dim)."""
        context = self.proj_context(context)
        x = mx.broadcast_to(self.latents, (context.shape[0], *self.latents.shape))
        for attn, ff in self.layers:
            x = attn(x, context) + x
            x = ff(x) + x
        return l2_normalize(x) * math.sqrt(x.shape[-1]) * self.norm_gamma


class ResidualFSQ(nn.Module):
    """Residual finite scalar quantization: project to len(levels) dims, round a tanh-bounded value per dim
    (stage k on the residual scaled by (levels - 1)^-k), index = mixed-radix number of the levels."""

    def __init__(self, levels: list[int], num_quantizers: int, dim: int):
        super().__init__()
        self.levels, self.num_quantizers = list(levels), num_quantizers
        self.project_in = nn.Linear(dim, len(levels))
        self.project_out = nn.Linear(len(levels), dim)

    def _consts(self) -> tuple[mx.array, mx.array, mx.array]:
        levels = mx.array(self.levels, dtype=mx.int32)
        basis = mx.array([math.prod(self.levels[:i]) for i in range(len(self.levels))], dtype=mx.int32)
        return levels, basis, levels // 2

    def _scale(self, k: int) -> mx.array:
        return (mx.array(self.levels, dtype=mx.float32) - 1) ** (-k)

    def encode(self, z: mx.array) -> mx.array:
        """(B, N, dim) -> indices (B, N, num_quantizers)."""
        levels, basis, half_width = self._consts()
        lf = levels.astype(mx.float32)
        half_l = (lf - 1) * (1 + 1e-3) / 2
        offset = mx.where(levels % 2 == 0, 0.5, 0.0)
        shift = mx.arctanh(offset / half_l)
        residual, indices = self.project_in(z), []
        for k in range(self.num_quantizers):
            scale = self._scale(k)
            bounded = mx.tanh(residual / scale + shift) * half_l - offset
            codes = mx.round(bounded) / half_width  # in [-1, 1]
            indices.append(((codes * half_width + half_width) * basis).sum(-1).astype(mx.int32))
            residual = residual - codes * scale
        return mx.stack(indices, axis=-1)

    def decode(self, indices: mx.array) -> mx.array:
        """(B, N, num_quantizers) indices -> (B, N, dim): the stages' scaled codes summed, projected out."""
        levels, basis, half_width = self._consts()
        total = 0.0
        for k in range(indices.shape[-1]):
            level = (indices[..., k : k + 1] // basis) % levels
            total = total + (level - half_width).astype(mx.float32) / half_width * self._scale(k)
        return self.project_out(total)


class SpeakerEncoder(nn.Module):
    """mel -> ECAPA features -> perceiver latents -> FSQ tokens (B, token_num); tokens -> d-vector (B, out_dim)."""

    def __init__(self, input_dim: int = 128, out_dim: int = 1024, latent_dim: int = 128, token_num: int = 32,
                 fsq_levels: list[int] = (4, 4, 4, 4, 4, 4), fsq_num_quantizers: int = 1):
        super().__init__()
        self.speaker_encoder = EcapaTdnn(input_dim)
        self.perceiver_sampler = PerceiverResampler(latent_dim, 512 * 3, token_num)
        self.quantizer = ResidualFSQ(list(fsq_levels), fsq_num_quantizers, latent_dim)
        self.project = nn.Linear(latent_dim * token_num, out_dim)

    def tokenize(self, mel: mx.array) -> mx.array:
        """(B, T, n_mels) -> global tokens (B, num_quantizers, token_num)."""
        features = tap("speaker_encoder.ecapa", self.speaker_encoder(mel))
        latents = tap("speaker_encoder.perceiver", self.perceiver_sampler(features))
        return tap("speaker_encoder.tokens", self.quantizer.encode(latents).transpose(0, 2, 1))

    def detokenize(self, tokens: mx.array) -> mx.array:
        """(B, num_quantizers, token_num) -> d-vector (B, out_dim); latents flattened dim-major as upstream."""
        z = self.quantizer.decode(tokens.transpose(0, 2, 1))  # (B, token_num, latent_dim)
        return tap("speaker_encoder.d_vector", self.project(z.transpose(0, 2, 1).reshape(z.shape[0], -1)))
