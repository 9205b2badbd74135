"""EnCodec (Défossez et al., 2022): a SEANet encoder, a residual vector quantizer, a SEANet decoder.

Module names follow transformers' `EncodecModel` (`encoder.layers.N`, `quantizer.layers.K.codebook`,
`decoder.layers.N`) so checkpoints load by name. Channels-last: audio (B, T, channels), latents (B, frames, D).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers import (
    ResidualLSTM,
    ResidualVectorQuantizer,
    SEANetResnetBlock,
    StreamableConv1d,
    StreamableConvTranspose1d,
    quantizers_for_bandwidth,
)
from ....parity.taps import tap
from .config import EncodecConfig


def _conv_kw(cfg: EncodecConfig) -> dict:
    return dict(causal=cfg.use_causal_conv, pad_mode=cfg.pad_mode, norm=cfg.norm_type)


def _resnet(cfg: EncodecConfig, dim: int, j: int) -> SEANetResnetBlock:
    return SEANetResnetBlock(dim, (cfg.residual_kernel_size, 1), (cfg.dilation_growth_rate ** j, 1),
                             compress=cfg.compress, true_skip=not cfg.use_conv_shortcut, **_conv_kw(cfg))


class Encoder(nn.Module):
    """SEANet encoder: conv, then per stride (residual blocks, ELU, strided conv), LSTM, ELU, conv to D."""

    def __init__(self, cfg: EncodecConfig):
        super().__init__()
        kw, f = _conv_kw(cfg), cfg.num_filters
        layers: list[nn.Module] = [StreamableConv1d(cfg.audio_channels, f, cfg.kernel_size, **kw)]
        scale = 1
        for ratio in reversed(cfg.upsampling_ratios):  # downsampling: smallest stride first
            layers += [_resnet(cfg, scale * f, j) for j in range(cfg.num_residual_layers)]
            layers += [nn.ELU(), StreamableConv1d(scale * f, 2 * scale * f, 2 * ratio, stride=ratio, **kw)]
            scale *= 2
        layers += [ResidualLSTM(scale * f, cfg.num_lstm_layers), nn.ELU()]
        layers += [StreamableConv1d(scale * f, cfg.hidden_size, cfg.last_kernel_size, **kw)]
        self.layers = layers

    def __call__(self, x: mx.array) -> mx.array:
        """audio (B, T, channels) -> latents (B, ceil(T / hop), hidden_size)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if not isinstance(layer, nn.ELU):
                x = tap(f"encoder.layers.{i}", x)
        return x


class Decoder(nn.Module):
    """SEANet decoder, the encoder mirrored: conv, LSTM, per stride (ELU, transposed conv, residual blocks)."""

    def __init__(self, cfg: EncodecConfig):
        super().__init__()
        kw, f = _conv_kw(cfg), cfg.num_filters
        scale = 2 ** len(cfg.upsampling_ratios)
        layers: list[nn.Module] = [StreamableConv1d(cfg.hidden_size, scale * f, cfg.kernel_size, **kw)]
        layers += [ResidualLSTM(scale * f, cfg.num_lstm_layers)]
        for ratio in cfg.upsampling_ratios:
            layers += [nn.ELU(), StreamableConvTranspose1d(
                scale * f, scale * f // 2, 2 * ratio, stride=ratio, causal=cfg.use_causal_conv,
                trim_right_ratio=cfg.trim_right_ratio, norm=cfg.norm_type)]
            layers += [_resnet(cfg, scale * f // 2, j) for j in range(cfg.num_residual_layers)]
            scale //= 2
        layers += [nn.ELU(), StreamableConv1d(f, cfg.audio_channels, cfg.last_kernel_size, **kw)]
        self.layers = layers

    def __call__(self, x: mx.array) -> mx.array:
        """latents (B, frames, hidden_size) -> audio (B, frames * hop, channels)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if not isinstance(layer, nn.ELU):
                x = tap(f"decoder.layers.{i}", x)
        return x


def transposed_conv_indices(cfg: EncodecConfig) -> list[int]:
    """Positions of the transposed convolutions in `decoder.layers` (the key map needs them)."""
    out, i = [], 2
    for _ in cfg.upsampling_ratios:
        out.append(i + 1)
        i += 2 + cfg.num_residual_layers
    return out


class Encodec(nn.Module):
    """The codec: `encode(audio) -> codes (n_q, frames)`, `decode(codes) -> audio`."""

    def __init__(self, cfg: EncodecConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantizer = ResidualVectorQuantizer(cfg.num_quantizers, cfg.codebook_size, cfg.codebook_dim)

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    def num_codebooks(self, bandwidth: float | None = None) -> int:
        """Codebooks used at `bandwidth` kbps (None: the smallest target bandwidth, as transformers does)."""
        cfg = self.config
        bandwidth = cfg.target_bandwidths[0] if bandwidth is None else bandwidth
        if bandwidth not in cfg.target_bandwidths:
            raise ValueError(f"bandwidth {bandwidth} is not one of this model's {cfg.target_bandwidths}")
        return quantizers_for_bandwidth(bandwidth, cfg.codebook_size, cfg.frame_rate, cfg.num_quantizers)

    def _check_supported(self) -> None:
        if self.config.normalize or self.config.chunk_length is not None:
            raise NotImplementedError("chunked / normalized EnCodec (encodec_48khz) is not ported yet")

    def encode_batch(self, audio: mx.array, bandwidth: float | None = None) -> mx.array:
        """audio (B, T, channels) -> codes (n_q, B, frames)."""
        self._check_supported()
        latents = self.encoder(audio)
        return self.quantizer.encode(latents, self.num_codebooks(bandwidth))

    def decode_batch(self, codes: mx.array) -> mx.array:
        """codes (n_q, B, frames) -> audio (B, frames * hop, channels)."""
        self._check_supported()
        latents = tap("quantizer", self.quantizer.decode(codes))
        return tap("decoder.output", self.decoder(latents))

    def encode(self, audio: np.ndarray | mx.array, bandwidth: float | None = None) -> np.ndarray:
        """Mono (T,) or (T, channels) audio at `sample_rate` -> int codes (codebooks, frames)."""
        x = mx.array(audio, dtype=mx.float32)
        x = x[:, None] if x.ndim == 1 else x
        codes = self.encode_batch(x[None].astype(self.encoder.layers[0].conv.weight.dtype), bandwidth)
        return np.array(codes[:, 0]).astype(np.int64)

    def decode(self, codes: np.ndarray | mx.array) -> np.ndarray:
        """Codes (codebooks, frames) -> float32 audio (frames * hop,) mono, or (frames * hop, channels)."""
        audio = self.decode_batch(mx.array(codes)[:, None])[0].astype(mx.float32)
        out = np.array(audio)
        return out[:, 0] if out.shape[1] == 1 else out
