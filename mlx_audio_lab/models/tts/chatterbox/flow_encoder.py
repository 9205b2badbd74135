"""S3Gen's upsampling conformer encoder: speech-token embeddings (B, T, 512) -> (B, 2T, 512), one per mel frame.

Linear embed -> pre-lookahead convs -> conformer layers -> x2 nearest upsampling + conv -> linear embed ->
conformer layers -> LayerNorm. The layers are feed-forward conformers (no conv module, no macaron) with
ESPnet's relative-position self attention (`layers.relpos_attention`). Names follow `s3gen.safetensors`.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ....layers.conv import Conv1d
from ....layers.relpos_attention import RelPositionMultiHeadAttention, rel_positional_encoding
from ....taps import tap


class LinearEmbed(nn.Module):
    """Linear + LayerNorm, scaled by sqrt(d) (ESPnet's rel-pos embedding); `out` keeps the Sequential's indices."""

    def __init__(self, idim: int, odim: int):
        super().__init__()
        self.out = [nn.Linear(idim, odim), nn.LayerNorm(odim, eps=1e-5)]
        self.scale = math.sqrt(odim)

    def __call__(self, x: mx.array) -> tuple[mx.array, mx.array]:
        """(B, T, idim) -> (x (B, T, odim), relative position sinusoids (2T - 1, odim))."""
        x = self.out[1](self.out[0](x)) * self.scale
        return x, rel_positional_encoding(x.shape[1], x.shape[-1])


class PreLookahead(nn.Module):
    """Looks `lookahead` frames ahead (right-padded conv, leaky ReLU), then a causal conv; residual."""

    def __init__(self, channels: int, lookahead: int = 3):
        super().__init__()
        self.lookahead = lookahead
        self.conv1 = Conv1d(channels, channels, lookahead + 1)
        self.conv2 = Conv1d(channels, channels, 3)

    def __call__(self, x: mx.array) -> mx.array:
        h = nn.leaky_relu(self.conv1(mx.pad(x, [(0, 0), (0, self.lookahead), (0, 0)])), 0.01)
        return x + self.conv2(mx.pad(h, [(0, 0), (2, 0), (0, 0)]))


class FeedForward(nn.Module):
    """w_2(swish(w_1(x)))."""

    def __init__(self, dims: int, hidden: int):
        super().__init__()
        self.w_1 = nn.Linear(dims, hidden)
        self.w_2 = nn.Linear(hidden, dims)

    def __call__(self, x: mx.array) -> mx.array:
        return self.w_2(nn.silu(self.w_1(x)))


class ConformerLayer(nn.Module):
    """Pre-norm: x + attention(norm_mha(x)), then x + feed_forward(norm_ff(x))."""

    def __init__(self, dims: int, heads: int, hidden: int):
        super().__init__()
        self.self_attn = RelPositionMultiHeadAttention(dims, heads)
        self.feed_forward = FeedForward(dims, hidden)
        self.norm_mha = nn.LayerNorm(dims, eps=1e-12)
        self.norm_ff = nn.LayerNorm(dims, eps=1e-12)

    def __call__(self, x: mx.array, pos_emb: mx.array) -> mx.array:
        x = x + self.self_attn(self.norm_mha(x), pos_emb)
        return x + self.feed_forward(self.norm_ff(x))


class UpsampleEncoder(nn.Module):
    """Token embeddings (B, T, C) -> features (B, 2T, C) (one batch item's full length: no padding mask)."""

    def __init__(self, dims: int = 512, heads: int = 8, hidden: int = 2048, blocks: int = 6, up_blocks: int = 4,
                 stride: int = 2):
        super().__init__()
        self.stride = stride
        self.embed = LinearEmbed(dims, dims)
        self.pre_lookahead_layer = PreLookahead(dims)
        self.encoders = [ConformerLayer(dims, heads, hidden) for _ in range(blocks)]
        self.up_layer = Conv1d(dims, dims, 2 * stride + 1)  # checkpoint: `up_layer.conv`
        self.up_embed = LinearEmbed(dims, dims)
        self.up_encoders = [ConformerLayer(dims, heads, hidden) for _ in range(up_blocks)]
        self.after_norm = nn.LayerNorm(dims, eps=1e-5)

    def __call__(self, x: mx.array) -> mx.array:
        x, pos = self.embed(x)
        x = tap("flow.encoder.embed", x)
        x = tap("flow.encoder.pre_lookahead_layer", self.pre_lookahead_layer(x))
        for i, layer in enumerate(self.encoders):
            x = tap(f"flow.encoder.encoders.{i}", layer(x, pos))
        x = mx.repeat(x, self.stride, axis=1)  # nearest x2, then a causal conv
        x = tap("flow.encoder.up_layer", self.up_layer(mx.pad(x, [(0, 0), (2 * self.stride, 0), (0, 0)])))
        x, pos = self.up_embed(x)
        x = tap("flow.encoder.up_embed", x)
        for i, layer in enumerate(self.up_encoders):
            x = tap(f"flow.encoder.up_encoders.{i}", layer(x, pos))
        return tap("flow.encoder", self.after_norm(x))
