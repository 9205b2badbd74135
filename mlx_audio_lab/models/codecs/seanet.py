"""SEANet (Tagliasacchi et al., 2020), the convolutional encoder and decoder of EnCodec and of Mimi (which has
no LSTM and no conv norm). Modules at `encoder.layers.N` / `decoder.layers.N`, as both checkpoints name them;
channels-last: audio (B, T, channels), latents (B, frames, hidden_size)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ...layers import ResidualLSTM, SEANetResnetBlock, StreamableConv1d, StreamableConvTranspose1d
from ...layers.conv import run_layers
from ...layers.fast_math import ELU
from ...taps import tap
from .seanet_config import SEANetConfig


def _resnet(cfg: SEANetConfig, dim: int, j: int, conv_kw: dict) -> SEANetResnetBlock:
    return SEANetResnetBlock(dim, (cfg.residual_kernel_size, 1), (cfg.dilation_growth_rate ** j, 1),
                             compress=cfg.compress, true_skip=not cfg.use_conv_shortcut, **conv_kw)


def _tapped(name: str, layers: list[nn.Module], x: mx.array) -> mx.array:
    """Run the layers in order, tapping each output but the ELUs' as `{name}.layers.N`."""
    return run_layers(layers, x, lambda i, y: tap(f"{name}.layers.{i}", y))


class SEANetEncoder(nn.Module):
    """conv, then per stride (residual blocks, ELU, strided conv), an LSTM if any, ELU, conv to hidden_size."""

    def __init__(self, cfg: SEANetConfig, norm: str = "none", lstm_layers: int = 0):
        super().__init__()
        kw, f = dict(causal=cfg.use_causal_conv, pad_mode=cfg.pad_mode, norm=norm), cfg.num_filters
        layers: list[nn.Module] = [StreamableConv1d(cfg.audio_channels, f, cfg.kernel_size, **kw)]
        scale = 1
        for ratio in reversed(cfg.upsampling_ratios):  # downsampling: smallest stride first
            layers += [_resnet(cfg, scale * f, j, kw) for j in range(cfg.num_residual_layers)]
            layers += [ELU(), StreamableConv1d(scale * f, 2 * scale * f, 2 * ratio, stride=ratio, **kw)]
            scale *= 2
        layers += [ResidualLSTM(scale * f, lstm_layers)] if lstm_layers else []
        layers += [ELU(), StreamableConv1d(scale * f, cfg.hidden_size, cfg.last_kernel_size, **kw)]
        self.layers = layers

    def __call__(self, x: mx.array) -> mx.array:
        """audio (B, T, channels) -> latents (B, ceil(T / hop), hidden_size)."""
        return _tapped("encoder", self.layers, x)


class SEANetDecoder(nn.Module):
    """The encoder mirrored: conv, an LSTM if any, per stride (ELU, transposed conv, residual blocks), ELU, conv."""

    def __init__(self, cfg: SEANetConfig, norm: str = "none", lstm_layers: int = 0):
        super().__init__()
        kw, f = dict(causal=cfg.use_causal_conv, pad_mode=cfg.pad_mode, norm=norm), cfg.num_filters
        scale = 2 ** len(cfg.upsampling_ratios)
        layers: list[nn.Module] = [StreamableConv1d(cfg.hidden_size, scale * f, cfg.kernel_size, **kw)]
        layers += [ResidualLSTM(scale * f, lstm_layers)] if lstm_layers else []
        for ratio in cfg.upsampling_ratios:
            layers += [ELU(), StreamableConvTranspose1d(
                scale * f, scale * f // 2, 2 * ratio, stride=ratio, causal=cfg.use_causal_conv,
                trim_right_ratio=cfg.trim_right_ratio, norm=norm)]
            layers += [_resnet(cfg, scale * f // 2, j, kw) for j in range(cfg.num_residual_layers)]
            scale //= 2
        layers += [ELU(), StreamableConv1d(f, cfg.audio_channels, cfg.last_kernel_size, **kw)]
        self.layers = layers

    def __call__(self, x: mx.array) -> mx.array:
        """latents (B, frames, hidden_size) -> audio (B, frames * hop, channels)."""
        return _tapped("decoder", self.layers, x)
