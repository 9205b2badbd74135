"""Long clips through a causal EnCodec (encodec_24khz) chunk by chunk: memory bounded by the chunk, not the clip.

The encoder's causal convs keep their left context, its LSTM its (h, c), and the last chunk gets the right
padding a whole-clip run adds (`layers.streaming`), so the codes equal the one-shot codes. The chunked 48 kHz
model already encodes 1 s chunks one at a time (`Encodec.encode_chunks`).
"""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from ....layers.streaming import ConvState, layers_step

CHUNK_FRAMES = 150  # code frames per chunk (2 s at 75 Hz; ~0.2 GB of activations at encodec_24khz size)


def can_stream(model) -> bool:
    """True for a causal EnCodec that encodes the whole clip at once (its encoder has no GroupNorm over time)."""
    return not model.chunked and model.config.use_causal_conv and model.config.norm_type != "time_group_norm"


def stream_encode(model, audio: np.ndarray, bandwidth: float | None = None,
                  chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """Audio (T,) or (T, channels) at the model's rate -> int64 codes (codebooks, frames), `chunk_frames` at a time."""
    if not can_stream(model):
        raise ValueError("only a causal EnCodec without chunks (as encodec_24khz) streams; encode() it instead")
    n_q = model.num_codebooks(bandwidth)
    audio = np.asarray(audio, np.float32)
    audio = audio[:, None] if audio.ndim == 1 else audio
    step = math.prod(model.config.upsampling_ratios) * chunk_frames
    dtype = model.encoder.layers[0].conv.weight.dtype
    state: ConvState = {}
    out = []
    for start in range(0, len(audio), step):
        chunk = mx.array(audio[start : start + step])[None].astype(dtype)  # (1, step, channels)
        latents = layers_step(model.encoder.layers, chunk, state, "encoder.layers", final=start + step >= len(audio))
        codes = model.quantizer.encode(latents, n_q)  # (n_q, 1, frames)
        mx.eval(codes, state)
        out.append(np.array(codes[:, 0]))
    return np.concatenate(out, axis=1).astype(np.int64)
