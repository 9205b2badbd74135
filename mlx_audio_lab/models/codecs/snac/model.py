"""SNAC, the Multi-Scale Neural Audio Codec (Siuzdak et al., 2024): DAC's Snake encoder/decoder with depthwise
convs, optional local windowed attention and noise injection, and a residual quantizer whose stages run at
different rates (the first codebooks are coarse in time, the last one at the latent frame rate).

Parameter names follow the `snac` package's `nn.Sequential` indices (`encoder.block.N`, `decoder.model.N`),
except inside residual units (`snake1`, `conv1`, ...: the shared layer); `convert.py` maps them. Channels-last.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....codes import check_scales
from ....errors import CodesError
from ....layers import ResidualFactorizedVQ, Snake1d, SnakeResidualUnit, chunked
from ....layers.conv import Conv1d, ConvTranspose1d
from ....taps import tap
from .attention import LocalMHA
from .config import SnacConfig

NoiseFn = Callable[[int, int], mx.array]  # (batch, frames) -> standard normal noise


def gaussian_noise(batch: int, frames: int) -> mx.array:
    """Fresh noise from MLX's generator (the upstream default: decoding is stochastic)."""
    return mx.random.normal((batch, frames))


def seeded_noise(seed: int) -> NoiseFn:
    """Reproducible noise from numpy's generator; the reference draws the same numbers (see reference.py)."""
    rng = np.random.default_rng(seed)
    return lambda batch, frames: mx.array(rng.standard_normal((batch, frames)).astype(np.float32))


class EncoderBlock(nn.Module):
    """Residual units (dilations 1, 3, 9; depthwise when `groups` > 1), Snake, strided conv doubling channels."""

    def __init__(self, out_dim: int, stride: int, groups: int):
        super().__init__()
        d = out_dim // 2
        self.block = [SnakeResidualUnit(d, dil, groups=groups) for dil in (1, 3, 9)]
        self.block += [Snake1d(d), Conv1d(d, out_dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2))]

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, out_dim / 2) -> (B, T / stride, out_dim)."""
        for layer in self.block:
            x = layer(x)
        return x


class NoiseBlock(nn.Module):
    """x + noise * linear(x): per-frame Gaussian noise, scaled per channel by a 1x1 conv of the input."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = Conv1d(dim, dim, 1, bias=False)

    def __call__(self, x: mx.array, noise: NoiseFn) -> mx.array:
        """(B, T, dim) -> (B, T, dim)."""
        n = noise(x.shape[0], x.shape[1])[..., None].astype(x.dtype)  # (B, T, 1)
        return x + n * self.linear(x)


class DecoderBlock(nn.Module):
    """Snake, transposed conv (x stride), optional noise, residual units (dilations 1, 3, 9)."""

    def __init__(self, in_dim: int, out_dim: int, stride: int, noise: bool, groups: int):
        super().__init__()
        self.block = [Snake1d(in_dim), ConvTranspose1d(in_dim, out_dim, 2 * stride, stride=stride,
                                                          padding=math.ceil(stride / 2), output_padding=stride % 2)]
        self.block += [NoiseBlock(out_dim)] if noise else []
        self.block += [SnakeResidualUnit(out_dim, dil, groups=groups) for dil in (1, 3, 9)]

    def __call__(self, x: mx.array, noise: NoiseFn) -> mx.array:
        """(B, T, in_dim) -> (B, T * stride, out_dim)."""
        for layer in self.block:
            x = layer(x, noise) if isinstance(layer, NoiseBlock) else layer(x)
        return x


class Encoder(nn.Module):
    """conv(7) -> encoder blocks -> [local attention] -> depthwise conv(7)."""

    def __init__(self, cfg: SnacConfig):
        super().__init__()
        d = cfg.encoder_dim
        self.block: list[nn.Module] = [Conv1d(1, d, 7, padding=3)]
        for stride in cfg.encoder_rates:
            d *= 2
            self.block.append(EncoderBlock(d, stride, groups=d // 2 if cfg.depthwise else 1))
        if cfg.attn_window_size is not None:
            self.block.append(LocalMHA(d, cfg.attn_window_size))
        self.block.append(Conv1d(d, d, 7, padding=3, groups=d if cfg.depthwise else 1))

    def __call__(self, x: mx.array) -> mx.array:
        """audio (B, T, 1) -> latents (B, T / hop, latent_dim)."""
        for i, layer in enumerate(self.block):
            x = tap(f"encoder.block.{i}", layer(x))
        return x


class Decoder(nn.Module):
    """[depthwise conv(7) + conv(1) | conv(7)] -> [local attention] -> decoder blocks -> Snake -> conv(7) -> tanh."""

    def __init__(self, cfg: SnacConfig):
        super().__init__()
        c_in, c = cfg.latent_dim, cfg.decoder_dim
        if cfg.depthwise:
            self.model: list[nn.Module] = [Conv1d(c_in, c_in, 7, padding=3, groups=c_in), Conv1d(c_in, c, 1)]
        else:
            self.model = [Conv1d(c_in, c, 7, padding=3)]
        if cfg.attn_window_size is not None:
            self.model.append(LocalMHA(c, cfg.attn_window_size))
        for i, stride in enumerate(cfg.decoder_rates):
            out = c // 2 ** (i + 1)
            self.model.append(DecoderBlock(c // 2 ** i, out, stride, cfg.noise, groups=out if cfg.depthwise else 1))
        self.model += [Snake1d(out), Conv1d(out, 1, 7, padding=3), nn.Tanh()]

    def __call__(self, x: mx.array, noise: NoiseFn = gaussian_noise) -> mx.array:
        """latents (B, frames, latent_dim) -> audio (B, frames * hop, 1) in [-1, 1]."""
        for i, layer in enumerate(self.model):
            x = layer(x, noise) if isinstance(layer, DecoderBlock) else layer(x)
            x = tap(f"decoder.model.{i}", x)
        return x


class Snac(nn.Module):
    """The codec: `encode(audio) -> [codes per scale]`, `decode(codes) -> audio`."""

    def __init__(self, cfg: SnacConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualFactorizedVQ(cfg.latent_dim, cfg.codebook_size, cfg.codebook_dim, cfg.vq_strides)
        self.decoder = Decoder(cfg)

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    def pad(self, audio: np.ndarray) -> np.ndarray:
        """Right-pad (T,) audio with zeros to `config.pad_multiple` (SNAC's `preprocess`)."""
        return np.pad(audio, (0, -len(audio) % self.config.pad_multiple))

    def encode_batch(self, audio: mx.array) -> list[mx.array]:
        """audio (B, T, 1), T a multiple of `pad_multiple` -> one (B, frames_k) code array per scale."""
        return self.quantizer.encode(self.encoder(audio))

    def decode_batch(self, codes: list[mx.array], noise: NoiseFn = gaussian_noise) -> mx.array:
        """One (B, frames_k) code array per scale -> audio (B, T, 1)."""
        latents = tap("quantizer", self.quantizer.decode(codes))
        return self.decoder(latents, noise)

    def encode(self, audio: np.ndarray | mx.array) -> list[np.ndarray]:
        """Mono (T,) audio at `sample_rate` -> a LIST of int code arrays, one per scale, coarsest first.

        Scale k has `padded_T / hop / vq_strides[k]` frames (e.g. 12, 23 and 47 Hz for snac_24khz), so the
        codebooks cannot be stacked into one (codebooks, frames) grid. Clips longer than `chunked.STREAM_SECONDS`
        are encoded in chunks of about `CHUNK_SECONDS` (bounded memory) aligned to `pad_multiple`, with
        `context_units` of audio each side (the encoder's receptive field, attention window included): the same
        codes as one shot except where float rounding flips a near-tie code (tests/models/codecs/
        test_chunked_encode.py measures it).
        """
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(x) > chunked.STREAM_SECONDS * self.sample_rate:
            cfg = self.config
            unit = cfg.pad_multiple
            per_unit = [unit // cfg.hop_length // s for s in cfg.vq_strides]
            chunk = max(1, chunked.CHUNK_SECONDS * self.sample_rate // unit)
            return chunked.overlapped_encode(self._encode_once, x, unit, per_unit, chunk, self.context_units)
        return self._encode_once(x)

    @property
    def context_units(self) -> int:
        """`pad_multiple` spans of audio each side of a chunk that cover the encoder's receptive field."""
        cfg = self.config
        span = chunked.snake_encoder_span(cfg.encoder_rates, 7, 7, cfg.attn_window_size or 0)
        return math.ceil(span / cfg.pad_multiple)

    def _encode_once(self, audio: np.ndarray) -> list[np.ndarray]:
        """(T,) float32 -> the code arrays per scale, the whole clip at once."""
        x = self.pad(audio)
        dtype = self.encoder.block[0].weight.dtype
        codes = self.encode_batch(mx.array(x)[None, :, None].astype(dtype))
        return [np.array(c[0]).astype(np.int64) for c in codes]

    def stack_codes(self, codes: list[np.ndarray]) -> np.ndarray:
        """`encode`'s list -> the (rows, coarse frames) grid of `frames.to_grid` (what `.npy` files hold)."""
        from .frames import to_grid

        return to_grid(codes, self.config.vq_strides)

    def decode(self, codes: list[np.ndarray] | np.ndarray, seed: int | None = None) -> np.ndarray:
        """Code arrays per scale (as `encode` returns), or their (rows, frames) grid -> float32 mono audio.
        Scales, frame counts and code ranges are checked first.

        The decoder injects Gaussian noise: `seed=None` draws it from MLX's generator (as upstream draws it
        from torch's); an int seed makes it reproducible (numpy's generator, shared with the reference).
        """
        cfg = self.config
        if isinstance(codes, np.ndarray | mx.array) and np.ndim(codes) == 2:  # the grid of `frames.to_grid`
            from .frames import from_grid, grid_order

            grid, rows = np.asarray(codes), len(grid_order(cfg.vq_strides))
            if grid.shape[0] != rows or not np.issubdtype(grid.dtype, np.integer) or grid.shape[1] == 0:
                raise CodesError(f"codes are {grid.dtype} {grid.shape}; this SNAC reads a ({rows} rows, frames) "
                                 "integer grid (`encode --out X.npy`) or an .npz with one array per scale")
            codes = from_grid(grid, cfg.vq_strides)
        codes = check_scales(codes, cfg.codebook_size, cfg.vq_strides)
        noise = gaussian_noise if seed is None else seeded_noise(seed)
        audio = self.decode_batch([mx.array(c)[None] for c in codes], noise)
        return np.array(audio[0, :, 0].astype(mx.float32))
