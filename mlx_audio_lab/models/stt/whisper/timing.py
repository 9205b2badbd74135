"""Cross attention of the alignment heads: which audio frames each transcript token looks at."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .model import Whisper


def alignment_attention(model: Whisper, mel: mx.array, tokens: list[int]) -> np.ndarray:
    """(alignment heads, tokens, audio positions) cross-attention weights, teacher-forced over `tokens`."""
    audio = model.embed_audio(mel)
    _, weights = model.decoder(mx.array([tokens]), audio, return_weights=True)
    heads = [weights[layer][0, head] for layer, head in model.alignment_heads]
    return np.array(mx.stack(heads))


def token_times(attention: np.ndarray, n_frames: int, seconds_per_position: float = 0.02) -> np.ndarray:
    """A rough time (s) per token: the audio position of peak averaged, z-normalized head attention."""
    a = attention[..., :n_frames]
    z = (a - a.mean(axis=-1, keepdims=True)) / (a.std(axis=-1, keepdims=True) + 1e-9)
    return z.mean(axis=0).argmax(axis=-1) * seconds_per_position
