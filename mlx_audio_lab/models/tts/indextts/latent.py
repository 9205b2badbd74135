"""The GPT latents s2mel consumes (`UnifiedVoice.forward`, as infer_v2 calls it after generation): the prompt
(conditioning + text) then [start_mel, codes, stop_mel] at mel positions 0..N+1, one teacher-forced GPT-2 pass,
the final norm; the N hidden states at start_mel and the first N - 1 codes (upstream strips the last two)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....taps import tap

if TYPE_CHECKING:
    from .model import IndexTTS


def code_latents(model: IndexTTS, features: np.ndarray, text: np.ndarray, codes: np.ndarray,
                 emo_features: np.ndarray | None = None) -> mx.array:
    """Speaker features (B, T, 1024), text ids (B, L), codes (B, N) without the stop code -> latents (B, N, D)."""
    c = model.config
    codes = np.atleast_2d(np.asarray(codes))
    B, N = codes.shape
    mel_ids = np.concatenate([np.full((B, 1), c.start_mel_token), codes, np.full((B, 1), c.stop_mel_token)], axis=1)
    emo = None if emo_features is None else mx.array(emo_features)
    prompt = model.prompt_embeddings(mx.array(features), text, emo)  # (B, P, D)
    x = mx.concatenate([prompt, model.mel_input(mx.array(mel_ids.astype(np.int32)), 0)], axis=1)
    hidden = model.final_norm(model.gpt(x, model.make_cache()))
    return tap("gpt_latent", hidden[:, -(N + 2): -2])
