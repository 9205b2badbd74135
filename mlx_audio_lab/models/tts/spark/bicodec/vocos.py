"""BiCodec's feature encoder and the decoder's pre-net: Vocos ConvNeXt backbones around sampling blocks.

The backbone is the Vocos port's `VocosBackbone`; where BiCodec conditions it on the speaker's d-vector, its
norms become `VectorAdaLayerNorm` (scale and shift linear in the condition). Channels-last: (B, T, C).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .....layers.conv import Conv1d, ConvTranspose1d
from .....layers.convnext import VectorAdaLayerNorm
from ....codecs.vocos.model import VocosBackbone


class Backbone(VocosBackbone):
    """Vocos's backbone; with `condition_dim` every norm is conditioned on a vector (B, condition_dim)."""

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int,
                 condition_dim: int | None = None):
        super().__init__(input_channels, dim, intermediate_dim, num_layers)
        if condition_dim:
            self.norm = VectorAdaLayerNorm(condition_dim, dim)
            for block in self.convnext:
                block.norm = VectorAdaLayerNorm(condition_dim, dim)


def _leaky(x: mx.array) -> mx.array:
    return nn.leaky_relu(x, 0.2)


class SamplingBlock(nn.Module):
    """Up- (repeat + transposed conv) then down-sampling (strided conv + two average pools); the three paths
    are summed, so with both scales 1 it returns 3 x (as upstream)."""

    def __init__(self, dim: int, upsample_scale: int = 1, downsample_scale: int = 1):
        super().__init__()
        self.up, self.down = upsample_scale, downsample_scale
        if self.up > 1:
            u = self.up
            self.de_conv_upsampler = ConvTranspose1d(dim, dim, 2 * u, stride=u, padding=u // 2 + u % 2,
                                                     output_padding=u % 2, groups=dim)
        if self.down > 1:
            d = self.down
            self.conv_downsampler = Conv1d(dim, dim, 2 * d, stride=d, padding=d // 2 + d % 2, groups=dim)

    def _pool(self, x: mx.array) -> mx.array:
        B, T, C = x.shape
        n = T // self.down
        return x[:, : n * self.down].reshape(B, n, self.down, C).mean(axis=2)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, C) -> (B, T * up / down, C)."""
        repeat = merged = x
        if self.up > 1:
            repeat = mx.repeat(x, self.up, axis=1)
            merged = repeat + self.de_conv_upsampler(_leaky(x))
        if self.down > 1:
            return self.conv_downsampler(_leaky(merged)) + self._pool(merged) + self._pool(repeat)
        return merged + merged + repeat


class FeatureEncoder(nn.Module):
    """wav2vec2 features (B, T, 1024) -> backbone -> [sampling block + 2-layer backbone] per ratio -> linear."""

    def __init__(self, input_channels: int, vocos_dim: int, vocos_intermediate_dim: int, vocos_num_layers: int,
                 out_channels: int, sample_ratios: list[int] = (1, 1)):
        super().__init__()
        dim, inner = vocos_dim, vocos_intermediate_dim
        self.encoder = Backbone(input_channels, dim, inner, vocos_num_layers)
        self.downsample = [[SamplingBlock(dim, downsample_scale=r), Backbone(dim, dim, inner, 2)]
                           for r in sample_ratios]
        self.project = nn.Linear(dim, out_channels)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, input_channels) -> (B, T / prod(ratios), out_channels)."""
        x = self.encoder(x)
        for sampling, backbone in self.downsample:
            x = backbone(sampling(x))
        return self.project(x)


class FeatureDecoder(nn.Module):
    """BiCodec's pre-net: linear, [sampling block + backbone] per ratio, a d-vector-conditioned backbone, linear."""

    def __init__(self, input_channels: int, vocos_dim: int, vocos_intermediate_dim: int, vocos_num_layers: int,
                 out_channels: int, condition_dim: int | None = None, sample_ratios: list[int] = (1, 1),
                 use_tanh_at_final: bool = False):
        super().__init__()
        dim, inner = vocos_dim, vocos_intermediate_dim
        self.linear_pre = nn.Linear(input_channels, dim)
        self.downsample = [[SamplingBlock(dim, upsample_scale=r), Backbone(dim, dim, inner, 2)]
                           for r in sample_ratios]
        self.vocos_backbone = Backbone(dim, dim, inner, vocos_num_layers, condition_dim)
        self.linear = nn.Linear(dim, out_channels)
        self.use_tanh = use_tanh_at_final

    def __call__(self, x: mx.array, condition: mx.array | None = None) -> mx.array:
        """(B, T, input_channels), condition (B, condition_dim) -> (B, T * prod(ratios), out_channels)."""
        x = self.linear_pre(x)
        for sampling, backbone in self.downsample:
            x = backbone(sampling(x))
        x = self.linear(self.vocos_backbone(x, condition))
        return mx.tanh(x) if self.use_tanh else x
