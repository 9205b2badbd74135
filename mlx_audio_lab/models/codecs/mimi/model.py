"""Mimi (Défossez et al., 2024, Moshi): SEANet encoder, transformer, downsampling conv, split RVQ, and back.

Module names follow the flat layout of kyutai/mimi (`encoder.layers.N`, `encoder_transformer.layers.N`,
`downsample`, `quantizer.{semantic,acoustic}_residual_vector_quantizer`, `upsample`, `decoder_transformer`,
`decoder.layers.N`) so checkpoints load by name. Channels-last: audio (B, T, channels), latents (B, frames, D).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers import SEANetResnetBlock, StreamableConv1d, StreamableConvTranspose1d
from ....layers.split_quantizer import SplitResidualVectorQuantizer
from ....layers.transformer import Transformer
from ....parity.taps import tap
from .config import MimiConfig


def _conv_kw(cfg: MimiConfig) -> dict:
    return dict(causal=cfg.use_causal_conv, pad_mode=cfg.pad_mode, norm="none")


def _resnet(cfg: MimiConfig, dim: int, j: int) -> SEANetResnetBlock:
    return SEANetResnetBlock(dim, (cfg.residual_kernel_size, 1), (cfg.dilation_growth_rate ** j, 1),
                             compress=cfg.compress, true_skip=not cfg.use_conv_shortcut, **_conv_kw(cfg))


def _tapped(name: str, layers: list[nn.Module], x: mx.array) -> mx.array:
    for i, layer in enumerate(layers):
        x = layer(x)
        if not isinstance(layer, nn.ELU):
            x = tap(f"{name}.layers.{i}", x)
    return x


class Encoder(nn.Module):
    """SEANet encoder: conv, then per stride (residual blocks, ELU, strided conv), ELU, conv to hidden_size."""

    def __init__(self, cfg: MimiConfig):
        super().__init__()
        kw, f = _conv_kw(cfg), cfg.num_filters
        layers: list[nn.Module] = [StreamableConv1d(cfg.audio_channels, f, cfg.kernel_size, **kw)]
        scale = 1
        for ratio in reversed(cfg.upsampling_ratios):  # downsampling: smallest stride first
            layers += [_resnet(cfg, scale * f, j) for j in range(cfg.num_residual_layers)]
            layers += [nn.ELU(), StreamableConv1d(scale * f, 2 * scale * f, 2 * ratio, stride=ratio, **kw)]
            scale *= 2
        layers += [nn.ELU(), StreamableConv1d(scale * f, cfg.hidden_size, cfg.last_kernel_size, **kw)]
        self.layers = layers

    def __call__(self, x: mx.array) -> mx.array:
        """audio (B, T, channels) -> (B, ceil(T / hop), hidden_size)."""
        return _tapped("encoder", self.layers, x)


class Decoder(nn.Module):
    """SEANet decoder: conv, per stride (ELU, transposed conv, residual blocks), ELU, conv to audio."""

    def __init__(self, cfg: MimiConfig):
        super().__init__()
        kw, f = _conv_kw(cfg), cfg.num_filters
        scale = 2 ** len(cfg.upsampling_ratios)
        layers: list[nn.Module] = [StreamableConv1d(cfg.hidden_size, scale * f, cfg.kernel_size, **kw)]
        for ratio in cfg.upsampling_ratios:
            layers += [nn.ELU(), StreamableConvTranspose1d(
                scale * f, scale * f // 2, 2 * ratio, stride=ratio, causal=cfg.use_causal_conv,
                trim_right_ratio=cfg.trim_right_ratio, norm="none")]
            layers += [_resnet(cfg, scale * f // 2, j) for j in range(cfg.num_residual_layers)]
            scale //= 2
        layers += [nn.ELU(), StreamableConv1d(f, cfg.audio_channels, cfg.last_kernel_size, **kw)]
        self.layers = layers

    def __call__(self, x: mx.array) -> mx.array:
        """(B, frames, hidden_size) -> audio (B, frames * hop, channels)."""
        return _tapped("decoder", self.layers, x)


class GroupedConvTranspose1d(nn.Module):
    """ConvTranspose1d with groups (Mimi's depthwise upsampling); weight (out, k, in / groups)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1,
                 bias: bool = False):
        super().__init__()
        self.stride, self.groups = stride, groups
        self.weight = mx.zeros((out_channels, kernel_size, in_channels // groups))
        if bias:
            self.bias = mx.zeros((out_channels,))

    def __call__(self, x: mx.array) -> mx.array:
        y = mx.conv_transpose1d(x, self.weight, stride=self.stride, groups=self.groups)
        return y + self.bias if "bias" in self else y


class Upsample(StreamableConvTranspose1d):
    """The frame-rate upsampling: a causal transposed conv with groups and no bias."""

    def __init__(self, cfg: MimiConfig):
        k, s = 2 * cfg.latent_stride, cfg.latent_stride
        super().__init__(cfg.hidden_size, cfg.hidden_size, k, s, causal=cfg.use_causal_conv,
                         trim_right_ratio=cfg.trim_right_ratio, norm="none", bias=False)
        self.conv = GroupedConvTranspose1d(cfg.hidden_size, cfg.hidden_size, k, s, cfg.upsample_groups)


def _transformer(cfg: MimiConfig, name: str) -> Transformer:
    return Transformer(cfg.num_hidden_layers, name=name, dims=cfg.hidden_size, heads=cfg.num_attention_heads,
                       hidden=cfg.intermediate_size, kv_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim,
                       rope_theta=cfg.rope_theta, window=cfg.sliding_window, norm_eps=cfg.norm_eps,
                       layer_scale=cfg.layer_scale_initial_scale, activation=cfg.hidden_act,
                       bias=cfg.attention_bias)


class Mimi(nn.Module):
    """The codec: `encode(audio) -> codes (n_q, frames)`, `decode(codes) -> audio`, plus streaming."""

    def __init__(self, cfg: MimiConfig):
        super().__init__()
        if cfg.latent_stride < 2:
            raise NotImplementedError("Mimi without the frame-rate down/upsampling is not ported")
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.encoder_transformer = _transformer(cfg, "encoder_transformer")
        self.downsample = StreamableConv1d(cfg.hidden_size, cfg.hidden_size, 2 * cfg.latent_stride,
                                           stride=cfg.latent_stride, causal=cfg.use_causal_conv,
                                           pad_mode="replicate", norm="none", bias=False)
        self.quantizer = SplitResidualVectorQuantizer(
            cfg.num_quantizers, cfg.num_semantic_quantizers, cfg.codebook_size, cfg.codebook_dim,
            cfg.hidden_size)
        self.upsample = Upsample(cfg)
        self.decoder_transformer = _transformer(cfg, "decoder_transformer")
        self.decoder = Decoder(cfg)

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    @property
    def frame_size(self) -> int:
        """Samples per code frame (1920 at 24 kHz: 80 ms)."""
        return self.config.frame_size

    def encode_latents(self, audio: mx.array) -> mx.array:
        """audio (B, T, channels) -> latents (B, ceil(T / frame_size), hidden_size) before quantization."""
        x = self.encoder(audio)
        x = tap("encoder_transformer", self.encoder_transformer(x))
        return tap("downsample", self.downsample(x))

    def decode_latents(self, latents: mx.array) -> mx.array:
        """Quantized latents (B, frames, hidden_size) -> audio (B, frames * frame_size, channels)."""
        x = tap("upsample", self.upsample(latents))
        x = tap("decoder_transformer", self.decoder_transformer(x))
        return tap("decoder.output", self.decoder(x))

    def encode_batch(self, audio: mx.array, num_quantizers: int | None = None) -> mx.array:
        """audio (B, T, channels) -> codes (n_q, B, frames)."""
        return self.quantizer.encode(self.encode_latents(audio), num_quantizers)

    def decode_batch(self, codes: mx.array) -> mx.array:
        """codes (n_q, B, frames) -> audio (B, frames * frame_size, channels)."""
        return self.decode_latents(tap("quantizer", self.quantizer.decode(codes)))

    def _dtype(self) -> mx.Dtype:
        return self.encoder.layers[0].conv.weight.dtype

    def encode(self, audio: np.ndarray | mx.array, num_quantizers: int | None = None) -> np.ndarray:
        """Mono (T,) or (T, channels) audio at `sample_rate` -> int codes (codebooks, frames)."""
        x = mx.array(audio, dtype=mx.float32)
        x = x[:, None] if x.ndim == 1 else x
        codes = self.encode_batch(x[None].astype(self._dtype()), num_quantizers)
        return np.array(codes[:, 0]).astype(np.int64)

    def decode(self, codes: np.ndarray | mx.array) -> np.ndarray:
        """Codes (codebooks, frames) -> float32 audio (frames * frame_size,) mono, or (..., channels)."""
        out = np.array(self.decode_batch(mx.array(codes)[:, None])[0].astype(mx.float32))
        return out[:, 0] if out.shape[1] == 1 else out

    def encode_stream(self, num_quantizers: int | None = None):
        """A streaming encoder: `.step(frame_audio) -> codes (n_q, 1)` per 80 ms frame (see `streaming.py`)."""
        from .streaming import EncodeStream

        return EncodeStream(self, num_quantizers)

    def decode_stream(self):
        """A streaming decoder: `.step(codes (n_q, n)) -> audio (n * frame_size,)`."""
        from .streaming import DecodeStream

        return DecodeStream(self)
