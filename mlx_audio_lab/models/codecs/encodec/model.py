"""EnCodec (Défossez et al., 2022): a SEANet encoder, a residual vector quantizer, a SEANet decoder.

Module names follow transformers' `EncodecModel` (`encoder.layers.N`, `quantizer.layers.K.codebook`,
`decoder.layers.N`) so checkpoints load by name. Channels-last: audio (B, T, channels), latents (B, frames, D).
"""

from __future__ import annotations

from collections.abc import Mapping

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....codes import check_codes
from ....errors import ArgumentError, CodesError
from ....layers import ResidualVectorQuantizer, quantizers_for_bandwidth
from ....layers.cpu.blas_threads import mlx_blas_threads
from ....layers.fast_math import fast_math_active
from ....taps import tap
from ..seanet import SEANetDecoder, SEANetEncoder
from .chunks import EncodecChunks, chunk_scale, overlap_add
from .config import EncodecConfig

STREAM_SECONDS = 60  # longer clips go through a causal encoder chunk by chunk (bounded memory)
BLAS_THREADS = 1  # OpenBLAS threads of MLX's CPU matmuls within encode on the fast path (see `_cpu_fast`)


def _cpu_fast(x: mx.array) -> bool:
    """True on the CPU fast path (float32): there MLX's matmuls within encode run on BLAS_THREADS OpenBLAS
    threads, their outputs evaluated within the block (MLX evaluates lazily). A second BLAS thread spins for
    ~0.1 s after each product and takes the core the LSTM kernel's second thread runs on, while the encoder's
    convs gain little from it (`layers/cpu/blas_threads.py`); decode keeps both threads for its larger transposed
    convs. The numbers are the same either way."""
    return fast_math_active() and x.dtype == mx.float32


class Encodec(nn.Module):
    """The codec: `encode(audio) -> codes (n_q, frames)`, `decode(codes) -> audio`; chunked models (48 kHz)
    encode to `EncodecChunks` (codes per chunk with per-chunk scales) and decode them."""

    def __init__(self, cfg: EncodecConfig):
        super().__init__()
        self.config = cfg
        self.encoder = SEANetEncoder(cfg, cfg.norm_type, cfg.num_lstm_layers)
        self.decoder = SEANetDecoder(cfg, cfg.norm_type, cfg.num_lstm_layers)
        self.quantizer = ResidualVectorQuantizer(cfg.num_quantizers, cfg.codebook_size, cfg.codebook_dim)

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    def num_codebooks(self, bandwidth: float | None = None) -> int:
        """Codebooks used at `bandwidth` kbps (None: the smallest target bandwidth, as transformers does)."""
        cfg = self.config
        bandwidth = cfg.target_bandwidths[0] if bandwidth is None else bandwidth
        if bandwidth not in cfg.target_bandwidths:
            raise ArgumentError(f"bandwidth {bandwidth} kbps is not one of this model's {cfg.target_bandwidths}")
        return quantizers_for_bandwidth(bandwidth, cfg.codebook_size, cfg.frame_rate, cfg.num_quantizers)

    @property
    def chunked(self) -> bool:
        """True when encode gives `EncodecChunks` (chunks and / or per-chunk scales, as encodec_48khz)."""
        return self.config.chunk_length is not None or self.config.normalize

    def encode_frame(self, audio: mx.array, n_q: int) -> tuple[mx.array, mx.array | None]:
        """One chunk (B, T, channels) -> codes (n_q, B, frames) and, if the model normalizes, its scale (B,)."""
        scale = None
        if self.config.normalize:
            scale = chunk_scale(audio.astype(mx.float32))
            audio = audio / scale[:, None, None].astype(audio.dtype)
        return self.quantizer.encode(self.encoder(audio), n_q), scale

    def encode_chunks(self, audio: mx.array, bandwidth: float | None = None) -> tuple[mx.array, mx.array | None, int]:
        """audio (B, T, channels) -> (codes (chunks, n_q, B, frames), scales (chunks, B) or None, padding).

        Chunks start every `chunk_stride` samples (one chunk when the model has no chunk length); the last,
        shorter chunk's codes are zero-padded by `padding` frames to the others' length.
        """
        n_q, cfg = self.num_codebooks(bandwidth), self.config
        length = audio.shape[1]
        size = cfg.chunk_length or length
        stride = cfg.chunk_stride or size
        codes, scales, fast = [], [], _cpu_fast(audio)
        with mlx_blas_threads(BLAS_THREADS, fast):
            for start in range(0, length, stride):
                c, scale = self.encode_frame(audio[:, start:start + size], n_q)
                if fast or cfg.chunk_length is not None:
                    mx.eval(c, scale)  # one chunk at a time: memory bounded by the chunk, not the clip
                codes.append(c)
                scales.append(scale)
        padding = codes[0].shape[-1] - codes[-1].shape[-1]
        if padding:
            codes[-1] = mx.pad(codes[-1], [(0, 0), (0, 0), (0, padding)])
        stacked = None if scales[0] is None else tap("scales", mx.stack(scales))
        return mx.stack(codes), stacked, padding

    def decode_chunks(self, codes: mx.array, scales: mx.array | None = None, padding: int = 0) -> mx.array:
        """codes (chunks, n_q, B, frames), scales (chunks, B) or None -> audio (B, T, channels).

        Each chunk is decoded (the last without its `padding` frames) and multiplied by its scale; with a chunk
        length the chunks are cross-faded (`overlap_add`), T = stride * (chunks - 1) + the last chunk's length.
        """
        cfg, out = self.config, []
        for i in range(codes.shape[0]):
            frame = codes[i, ..., : codes.shape[-1] - padding] if i == codes.shape[0] - 1 else codes[i]
            audio = self.decoder(tap("quantizer", self.quantizer.decode(frame)))
            out.append(audio if scales is None else audio * scales[i][:, None, None].astype(audio.dtype))
        if cfg.chunk_length is None:
            if len(out) != 1:
                raise ValueError(f"this model decodes one chunk, got {len(out)}")
            return tap("decoder.output", out[0])
        return tap("decoder.output", overlap_add(out, cfg.chunk_stride or 1))

    def _whole_clip_only(self, what: str) -> None:
        if self.chunked:
            raise ValueError(f"this model is chunked / normalized (as encodec_48khz): use {what}_chunks")

    def encode_batch(self, audio: mx.array, bandwidth: float | None = None) -> mx.array:
        """audio (B, T, channels) -> codes (n_q, B, frames), for a model that encodes the whole clip at once."""
        self._whole_clip_only("encode")
        return self.encode_chunks(audio, bandwidth)[0][0]

    def decode_batch(self, codes: mx.array) -> mx.array:
        """codes (n_q, B, frames) -> audio (B, frames * hop, channels), for a model without chunks."""
        self._whole_clip_only("decode")
        return self.decode_chunks(codes[None])

    def _as_batch(self, audio: np.ndarray | mx.array) -> mx.array:
        """(T,) or (T, channels) -> (1, T, channels) in the weights' dtype; the wrong channel count is an error."""
        x = mx.array(audio, dtype=mx.float32)
        x = x[:, None] if x.ndim == 1 else x
        channels = self.config.audio_channels
        if x.ndim != 2 or x.shape[1] != channels or x.shape[0] == 0:
            want = "(T,) or (T, 1)" if channels == 1 else f"(T, {channels}), channels last"
            raise ValueError(f"this model encodes {channels}-channel audio shaped {want}; got shape {tuple(x.shape)}")
        return x[None].astype(self.encoder.layers[0].conv.weight.dtype)

    def encode(self, audio: np.ndarray | mx.array, bandwidth: float | None = None) -> np.ndarray | EncodecChunks:
        """Audio at `sample_rate`, (T,) / (T, 1) mono or (T, channels) -> int codes (codebooks, frames).

        A chunked model (encodec_48khz) gives `EncodecChunks`: codes per chunk with each chunk's scale. A causal
        model streams clips longer than `STREAM_SECONDS` through its encoder in chunks (the same codes).
        """
        from .streaming import can_stream, stream_encode

        if can_stream(self) and np.shape(audio)[0] > STREAM_SECONDS * self.sample_rate:
            self._as_batch(np.asarray(audio)[:1])  # the shape checks of a whole-clip call
            return stream_encode(self, np.asarray(audio), bandwidth)
        codes, scales, padding = self.encode_chunks(self._as_batch(audio), bandwidth)
        if not self.chunked:
            return np.array(codes[0, :, 0]).astype(np.int64)
        return EncodecChunks(np.array(codes[:, :, 0]).astype(np.int64),
                             None if scales is None else np.array(scales[:, 0]), padding)

    def decode(self, codes: np.ndarray | mx.array | EncodecChunks | Mapping) -> np.ndarray:
        """Codes (codebooks, frames), or `EncodecChunks` (or its `to_arrays()` dict) for a chunked model ->
        float32 audio (T,) mono or (T, channels)."""
        if isinstance(codes, Mapping):
            codes = EncodecChunks.from_arrays(codes)
        cfg = self.config
        if isinstance(codes, EncodecChunks):
            for i, chunk in enumerate(codes.codes):
                check_codes(chunk, cfg.codebook_size, cfg.num_quantizers, f"chunk {i} of the codes")
            scales = None if codes.scales is None else mx.array(codes.scales)[:, None]
            batch, padding = mx.array(codes.codes)[:, :, None], codes.padding
        elif self.chunked:
            raise CodesError("this model (chunked / normalized, as encodec_48khz) decodes the EncodecChunks that "
                            "encode() returns (codes per chunk with their scales), not a plain code array")
        else:
            codes = check_codes(codes, cfg.codebook_size, cfg.num_quantizers)
            batch, scales, padding = mx.array(codes)[None, :, None], None, 0
        audio = self.decode_chunks(batch, scales, padding)[0].astype(mx.float32)
        out = np.array(audio)
        return out[:, 0] if out.shape[1] == 1 else out
