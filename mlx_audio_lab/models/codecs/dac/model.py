"""DAC, the Descript Audio Codec (Kumar et al., 2023): a Snake-activated convolutional encoder, a residual
vector quantizer with factorized, L2-normalized codebooks, and a mirrored convolutional decoder.

Module names follow transformers' `DacModel` (`encoder.block.N.res_unitK.conv1`, `quantizer.quantizers.K`,
`decoder.block.N.conv_t1`) so checkpoints load by name. Channels-last: audio (B, T, 1), latents (B, frames, D).
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....codes import check_codes
from ....layers import ResidualFactorizedVQ, Snake1d, SnakeResidualUnit, chunked
from ....layers.conv import Conv1d, ConvTranspose1d
from ....taps import tap
from .config import DacConfig


class EncoderBlock(nn.Module):
    """Three residual units (dilations 1, 3, 9) at `dim // 2` channels, Snake, strided conv to `dim`."""

    def __init__(self, dim: int, stride: int):
        super().__init__()
        self.res_unit1 = SnakeResidualUnit(dim // 2, dilation=1)
        self.res_unit2 = SnakeResidualUnit(dim // 2, dilation=3)
        self.res_unit3 = SnakeResidualUnit(dim // 2, dilation=9)
        self.snake1 = Snake1d(dim // 2)
        self.conv1 = Conv1d(dim // 2, dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2))

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, dim / 2) -> (B, T / stride, dim)."""
        x = self.res_unit3(self.res_unit2(self.res_unit1(x)))
        return self.conv1(self.snake1(x))


class DecoderBlock(nn.Module):
    """Snake, transposed conv (upsample by `stride`), three residual units (dilations 1, 3, 9)."""

    def __init__(self, in_dim: int, out_dim: int, stride: int):
        super().__init__()
        self.snake1 = Snake1d(in_dim)
        self.conv_t1 = ConvTranspose1d(in_dim, out_dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2))
        self.res_unit1 = SnakeResidualUnit(out_dim, dilation=1)
        self.res_unit2 = SnakeResidualUnit(out_dim, dilation=3)
        self.res_unit3 = SnakeResidualUnit(out_dim, dilation=9)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, in_dim) -> (B, T * stride, out_dim)."""
        x = self.conv_t1(self.snake1(x))
        return self.res_unit3(self.res_unit2(self.res_unit1(x)))


class Encoder(nn.Module):
    """conv(7) -> encoder blocks (channels double, time shrinks by each stride) -> Snake -> conv(3) to D."""

    def __init__(self, cfg: DacConfig):
        super().__init__()
        d = cfg.encoder_hidden_size
        self.conv1 = Conv1d(1, d, 7, padding=3)
        self.block = [EncoderBlock(d * 2 ** (i + 1), s) for i, s in enumerate(cfg.downsampling_ratios)]
        self.snake1 = Snake1d(cfg.hidden_size)
        self.conv2 = Conv1d(cfg.hidden_size, cfg.hidden_size, 3, padding=1)

    def __call__(self, x: mx.array) -> mx.array:
        """audio (B, T, 1) -> latents (B, T / hop, hidden_size)."""
        x = tap("encoder.conv1", self.conv1(x))
        for i, block in enumerate(self.block):
            x = tap(f"encoder.block.{i}", block(x))
        x = tap("encoder.snake1", self.snake1(x))
        return tap("encoder.conv2", self.conv2(x))


class Decoder(nn.Module):
    """conv(7) -> decoder blocks (channels halve, time grows by each stride) -> Snake -> conv(7) -> tanh."""

    def __init__(self, cfg: DacConfig):
        super().__init__()
        c = cfg.decoder_hidden_size
        self.conv1 = Conv1d(cfg.hidden_size, c, 7, padding=3)
        self.block = [DecoderBlock(c // 2 ** i, c // 2 ** (i + 1), s) for i, s in enumerate(cfg.upsampling_ratios)]
        out_dim = c // 2 ** len(cfg.upsampling_ratios)
        self.snake1 = Snake1d(out_dim)
        self.conv2 = Conv1d(out_dim, 1, 7, padding=3)

    def __call__(self, x: mx.array) -> mx.array:
        """latents (B, frames, hidden_size) -> audio (B, frames * hop, 1) in [-1, 1]."""
        x = tap("decoder.conv1", self.conv1(x))
        for i, block in enumerate(self.block):
            x = tap(f"decoder.block.{i}", block(x))
        x = tap("decoder.conv2", self.conv2(self.snake1(x)))
        return tap("decoder.output", mx.tanh(x))


class Dac(nn.Module):
    """The codec: `encode(audio) -> codes (n_codebooks, frames)`, `decode(codes) -> audio`."""

    def __init__(self, cfg: DacConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # transformers' DacModel scores codewords as -(|e|^2 - 2 e.c) + |c|^2: codebook_norm_sign=+1
        self.quantizer = ResidualFactorizedVQ(cfg.hidden_size, cfg.codebook_size, cfg.codebook_dim,
                                              [1] * cfg.n_codebooks, codebook_norm_sign=1)

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    def pad(self, audio: np.ndarray) -> np.ndarray:
        """Right-pad (T,) audio with zeros to a multiple of the hop length (as DAC's preprocessing does)."""
        hop = self.config.hop_length
        return np.pad(audio, (0, -len(audio) % hop))

    def encode_batch(self, audio: mx.array, n_quantizers: int | None = None) -> mx.array:
        """audio (B, T, 1), T a multiple of the hop -> codes (n_q, B, frames)."""
        return mx.stack(self.quantizer.encode(self.encoder(audio), n_quantizers))

    def decode_batch(self, codes: mx.array) -> mx.array:
        """codes (n_q, B, frames) -> audio (B, frames * hop, 1); fewer codebooks than trained is fine."""
        latents = tap("quantizer", self.quantizer.decode(list(codes)))
        return self.decoder(latents)

    @property
    def context_frames(self) -> int:
        """Code frames of audio each side of a chunk that cover the encoder's receptive field."""
        cfg = self.config
        return math.ceil(chunked.snake_encoder_span(cfg.downsampling_ratios, 7, 3) / cfg.hop_length)

    def encode(self, audio: np.ndarray | mx.array, n_quantizers: int | None = None) -> np.ndarray:
        """Mono (T,) audio at `sample_rate` -> int codes (codebooks, ceil(T / hop)); first `n_quantizers` only.

        Clips longer than `chunked.STREAM_SECONDS` are encoded `CHUNK_SECONDS` at a time (bounded memory), each
        chunk with `context_frames` of audio either side (the encoder's receptive field): the same codes as one
        shot, except where float rounding flips a near-tie code (measured: none in 60 s of speech-like audio
        at fixture size; see tests/models/codecs/test_chunked_encode.py)."""
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(x) > chunked.STREAM_SECONDS * self.sample_rate:
            hop = self.config.hop_length
            chunk = max(1, chunked.CHUNK_SECONDS * self.sample_rate // hop)
            return chunked.overlapped_encode(lambda a: [self._encode_once(a, n_quantizers)], x, hop, [1], chunk,
                                             self.context_frames)[0]
        return self._encode_once(x, n_quantizers)

    def _encode_once(self, audio: np.ndarray, n_quantizers: int | None = None) -> np.ndarray:
        """(T,) float32 -> codes (codebooks, ceil(T / hop)), the whole clip at once."""
        x = self.pad(audio)
        dtype = self.encoder.conv1.weight.dtype
        codes = self.encode_batch(mx.array(x)[None, :, None].astype(dtype), n_quantizers)
        return np.array(codes[:, 0]).astype(np.int64)

    def decode(self, codes: np.ndarray | mx.array) -> np.ndarray:
        """Codes (codebooks, frames) -> float32 mono audio, frames * hop samples (a few fewer with odd strides)."""
        codes = check_codes(codes, self.config.codebook_size, self.config.n_codebooks)
        audio = self.decode_batch(mx.array(codes)[:, None])[0, :, 0].astype(mx.float32)
        return np.array(audio)
