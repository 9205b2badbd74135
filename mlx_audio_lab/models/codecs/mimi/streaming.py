"""Streaming Mimi: 80 ms frames in, codes out (and back), with conv state and transformer KV caches.

Each stream holds the explicit state: a `ConvState` dict for the causal convs (left context) and transposed
convs (overlap-add tails), one sliding KV cache per transformer layer, and the absolute frame position that
the rotary embeddings need. Feeding a clip frame by frame gives the full-sequence codes / audio.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ....layers.streaming import ConvState, conv1d_step, conv_transpose1d_step, layers_step


class EncodeStream:
    """`step(audio)` with a multiple of `frame_size` samples -> codes (n_q, frames) for those frames."""

    def __init__(self, model, num_quantizers: int | None = None):
        self.model, self.num_quantizers = model, num_quantizers
        self.conv_state: ConvState = {}
        self.cache = model.encoder_transformer.make_cache()
        self.offset = 0  # frames (at the encoder transformer's rate) seen so far

    def step_batch(self, audio: mx.array) -> mx.array:
        """(B, T, channels) -> codes (n_q, B, T / frame_size)."""
        m = self.model
        if audio.shape[1] % m.frame_size:
            raise ValueError(f"streaming chunks must be multiples of {m.frame_size} samples, got {audio.shape[1]}")
        x = layers_step(m.encoder.layers, audio, self.conv_state, "encoder.layers")
        x = m.encoder_transformer(x, self.offset, self.cache)
        self.offset += x.shape[1]
        x = conv1d_step(m.downsample, x, self.conv_state, "downsample")
        codes = m.quantizer.encode(x, self.num_quantizers)
        mx.eval(codes, self.conv_state, [(c.keys, c.values) for c in self.cache])
        return codes

    def step(self, audio: np.ndarray | mx.array) -> np.ndarray:
        """Mono (T,) audio, T a multiple of `frame_size` -> int codes (n_q, T / frame_size)."""
        x = mx.array(audio, dtype=mx.float32)
        x = x[:, None] if x.ndim == 1 else x
        return np.array(self.step_batch(x[None].astype(self.model._dtype()))[:, 0]).astype(np.int64)


class DecodeStream:
    """`step(codes)` with (n_q, n) codes -> the n * frame_size samples they stand for."""

    def __init__(self, model):
        self.model = model
        self.conv_state: ConvState = {}
        self.cache = model.decoder_transformer.make_cache()
        self.offset = 0

    def step_batch(self, codes: mx.array) -> mx.array:
        """(n_q, B, n) -> audio (B, n * frame_size, channels)."""
        m = self.model
        x = conv_transpose1d_step(m.upsample, m.quantizer.decode(codes), self.conv_state, "upsample")
        x = m.decoder_transformer(x, self.offset, self.cache)
        self.offset += x.shape[1]
        audio = layers_step(m.decoder.layers, x, self.conv_state, "decoder.layers")
        mx.eval(audio, self.conv_state, [(c.keys, c.values) for c in self.cache])
        return audio

    def step(self, codes: np.ndarray | mx.array) -> np.ndarray:
        """Codes (n_q, n) -> float32 mono audio (n * frame_size,)."""
        out = np.array(self.step_batch(mx.array(codes)[:, None])[0].astype(mx.float32))
        return out[:, 0] if out.shape[1] == 1 else out


def stream_encode(model, audio: np.ndarray, num_quantizers: int | None = None, frames_per_step: int = 1) -> np.ndarray:
    """Encode a clip chunk by chunk (zero-padded to whole frames) -> codes (n_q, frames)."""
    step = model.frame_size * frames_per_step
    n = -(-len(audio) // model.frame_size) * model.frame_size
    audio = np.pad(np.asarray(audio, np.float32), (0, n - len(audio)))
    stream = EncodeStream(model, num_quantizers)
    return np.concatenate([stream.step(audio[i : i + step]) for i in range(0, n, step)], axis=1)


def stream_decode(model, codes: np.ndarray, frames_per_step: int = 1) -> np.ndarray:
    """Decode codes chunk by chunk -> audio (frames * frame_size,)."""
    stream = DecodeStream(model)
    codes = np.asarray(codes)
    return np.concatenate([stream.step(codes[:, i : i + frames_per_step])
                           for i in range(0, codes.shape[1], frames_per_step)])
