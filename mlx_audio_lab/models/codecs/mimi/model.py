"""Mimi (Défossez et al., 2024, Moshi): SEANet encoder, transformer, downsampling conv, split RVQ, and back.

Module names follow the flat layout of kyutai/mimi (`encoder.layers.N`, `encoder_transformer.layers.N`,
`downsample`, `quantizer.{semantic,acoustic}_residual_vector_quantizer`, `upsample`, `decoder_transformer`,
`decoder.layers.N`) so checkpoints load by name. Channels-last: audio (B, T, channels), latents (B, frames, D).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....codes import check_codes
from ....layers import StreamableConv1d, StreamableConvTranspose1d
from ....layers.split_quantizer import SplitResidualVectorQuantizer
from ....layers.transformer import Transformer
from ....taps import tap
from ..seanet import SEANetDecoder, SEANetEncoder
from .config import MimiConfig


class Upsample(StreamableConvTranspose1d):
    """The frame-rate upsampling: a causal transposed conv with groups and no bias."""

    def __init__(self, cfg: MimiConfig):
        k, s = 2 * cfg.latent_stride, cfg.latent_stride
        super().__init__(cfg.hidden_size, cfg.hidden_size, k, s, causal=cfg.use_causal_conv,
                         trim_right_ratio=cfg.trim_right_ratio, norm="none", bias=False, groups=cfg.upsample_groups)


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
        self.encoder = SEANetEncoder(cfg)
        self.encoder_transformer = _transformer(cfg, "encoder_transformer")
        self.downsample = StreamableConv1d(cfg.hidden_size, cfg.hidden_size, 2 * cfg.latent_stride,
                                           stride=cfg.latent_stride, causal=cfg.use_causal_conv,
                                           pad_mode="replicate", norm="none", bias=False)
        self.quantizer = SplitResidualVectorQuantizer(
            cfg.num_quantizers, cfg.num_semantic_quantizers, cfg.codebook_size, cfg.codebook_dim,
            cfg.hidden_size)
        self.upsample = Upsample(cfg)
        self.decoder_transformer = _transformer(cfg, "decoder_transformer")
        self.decoder = SEANetDecoder(cfg)

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
        codes = check_codes(codes, self.config.codebook_size, self.config.num_quantizers)
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
