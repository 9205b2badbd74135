"""The flow-matching estimator (Matcha-TTS / CosyVoice's causal 1-D U-Net with transformer blocks): the velocity
dx/dt (B, T, 80) of the mel at time t, given the noisy mel, the encoder's mu, the speaker and the prompt mel."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ....layers.conv import Conv1d
from ....layers.fast_math import batched_attention, gelu, mish
from ....taps import tap


class CausalConv1d(Conv1d):
    """Conv1d padded k - 1 frames on the left only."""

    def __call__(self, x: mx.array) -> mx.array:
        k = self.weight.shape[1]
        return super().__call__(mx.pad(x, [(0, 0), (k - 1, 0), (0, 0)]))


class CausalBlock(nn.Module):
    """Causal conv (k 3) -> LayerNorm -> Mish, masked in and out; `block` keeps the Sequential's indices."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        self.block = [CausalConv1d(dim, dim_out, 3), nn.Identity(), nn.LayerNorm(dim_out)]  # (transposes)

    def __call__(self, x: mx.array, mask: mx.array) -> mx.array:
        return mish(self.block[2](self.block[0](x * mask))) * mask


class CausalResnetBlock(nn.Module):
    """Two causal blocks with the time embedding added between them; 1x1 conv residual."""

    def __init__(self, dim: int, dim_out: int, time_dim: int):
        super().__init__()
        self.mlp = [nn.Identity(), nn.Linear(time_dim, dim_out)]  # Sequential(Mish, Linear)
        self.block1 = CausalBlock(dim, dim_out)
        self.block2 = CausalBlock(dim_out, dim_out)
        self.res_conv = Conv1d(dim, dim_out, 1)

    def __call__(self, x: mx.array, mask: mx.array, t: mx.array) -> mx.array:
        h = self.block1(x, mask) + self.mlp[1](mish(t))[:, None, :]
        return self.block2(h, mask) + self.res_conv(x * mask)


class Attention(nn.Module):
    """diffusers' self `Attention`: to_q / to_k / to_v without bias, to_out.0 with; additive mask bias."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = [nn.Linear(inner, dim)]

    def __call__(self, x: mx.array, bias: mx.array) -> mx.array:
        b, t, _ = x.shape
        q, k, v = (p(x).reshape(b, t, self.heads, self.head_dim).transpose(0, 2, 1, 3)
                   for p in (self.to_q, self.to_k, self.to_v))
        out = batched_attention(q, k, v, self.head_dim**-0.5, bias)
        return self.to_out[0](out.transpose(0, 2, 1, 3).reshape(b, t, -1))


class GELUProj(nn.Module):
    """diffusers' GELU: a Linear `proj`, then the exact (erf) GELU."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)

    def __call__(self, x: mx.array) -> mx.array:
        return gelu(self.proj(x))


class FeedForward(nn.Module):
    """diffusers' FeedForward: net = [GELU(dim -> 4 dim), Dropout, Linear(4 dim -> dim)]."""

    def __init__(self, dim: int):
        super().__init__()
        self.net = [GELUProj(dim, 4 * dim), nn.Identity(), nn.Linear(4 * dim, dim)]

    def __call__(self, x: mx.array) -> mx.array:
        return self.net[2](self.net[0](x))


class TimestepMLP(nn.Module):
    """linear_1 -> SiLU -> linear_2."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.linear_1 = nn.Linear(dim, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)

    def __call__(self, t: mx.array) -> mx.array:
        return self.linear_2(nn.silu(self.linear_1(t)))


class TransformerBlock(nn.Module):
    """Matcha's BasicTransformerBlock: x + attn1(norm1(x)), then x + ff(norm3(x)) with a GELU MLP (x4)."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, head_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def __call__(self, x: mx.array, bias: mx.array) -> mx.array:
        x = x + self.attn1(self.norm1(x), bias)
        return x + self.ff(self.norm3(x))


def timestep_embedding(t: mx.array, dim: int, scale: float = 1000.0) -> mx.array:
    """Sinusoids of t (B,) -> (B, dim): [sin, cos] of scale * t * 10000^(-i / (dim / 2 - 1))."""
    half = dim // 2
    freqs = mx.exp(mx.arange(half, dtype=mx.float32) * -(math.log(10000) / (half - 1)))
    emb = scale * t[:, None] * freqs[None]
    return mx.concatenate([mx.sin(emb), mx.cos(emb)], axis=-1)


class Estimator(nn.Module):
    """ConditionalDecoder (causal, one U-Net level): [x, mu, spks, cond] (B, T, 320) + t -> velocity (B, T, 80)."""

    def __init__(self, in_channels: int = 320, out_channels: int = 80, channels: int = 256, blocks: int = 4,
                 mid_blocks: int = 12, heads: int = 8, head_dim: int = 64):
        super().__init__()
        self.in_channels = in_channels
        time_dim = 4 * channels
        self.time_mlp = TimestepMLP(in_channels, time_dim)

        def stack() -> list[TransformerBlock]:
            return [TransformerBlock(channels, heads, head_dim) for _ in range(blocks)]

        self.down_blocks = [[CausalResnetBlock(in_channels, channels, time_dim), stack(),
                             CausalConv1d(channels, channels, 3)]]
        self.mid_blocks = [[CausalResnetBlock(channels, channels, time_dim), stack()] for _ in range(mid_blocks)]
        self.up_blocks = [[CausalResnetBlock(2 * channels, channels, time_dim), stack(),
                           CausalConv1d(channels, channels, 3)]]
        self.final_block = CausalBlock(channels, channels)
        self.final_proj = Conv1d(channels, out_channels, 1)

    def __call__(self, x: mx.array, mask: mx.array, mu: mx.array, t: mx.array, spks: mx.array,
                 cond: mx.array) -> mx.array:
        """x, mu, cond (B, T, 80), mask (B, T, 1), t (B,), spks (B, 80) -> (B, T, 80)."""
        te = self.time_mlp(timestep_embedding(t, self.in_channels))
        spk = mx.broadcast_to(spks[:, None, :], (x.shape[0], x.shape[1], spks.shape[-1]))
        x = mx.concatenate([x, mu, spk, cond], axis=-1)
        bias = ((1.0 - mask[..., 0]) * -1.0e10)[:, None, None, :]  # (B, 1, 1, T) over keys
        name = "flow.decoder.estimator"
        resnet, blocks, down = self.down_blocks[0]
        x = tap(f"{name}.down_blocks.0.0", resnet(x, mask, te))
        for j, blk in enumerate(blocks):
            x = tap(f"{name}.down_blocks.0.1.{j}", blk(x, bias))
        skip = x
        x = down(x * mask)
        for i, (resnet, blocks) in enumerate(self.mid_blocks):
            x = resnet(x, mask, te)
            for j, blk in enumerate(blocks):
                x = tap(f"{name}.mid_blocks.{i}.1.{j}", blk(x, bias))
        resnet, blocks, up = self.up_blocks[0]
        x = tap(f"{name}.up_blocks.0.0", resnet(mx.concatenate([x[:, : skip.shape[1]], skip], axis=-1), mask, te))
        for j, blk in enumerate(blocks):
            x = tap(f"{name}.up_blocks.0.1.{j}", blk(x, bias))
        x = tap(f"{name}.up_blocks.0.2", up(x * mask))
        x = tap(f"{name}.final_block", self.final_block(x, mask))
        return tap(f"{name}.final_proj", self.final_proj(x * mask)) * mask
