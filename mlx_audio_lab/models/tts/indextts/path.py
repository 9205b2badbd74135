"""The conditioning path of one prompt, stage by stage (for notebooks): features -> Conformer -> perceiver latents
(+ emotion vector and speed embeddings) -> GPT-2 prompt with the text."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ....taps import capture
from .model import IndexTTS

FEATURE_SECONDS = 0.02  # w2v-BERT 2.0 frames: 20 ms


def conditioning_stages(model: IndexTTS, features: np.ndarray, text: np.ndarray) -> list[tuple[str, np.ndarray,
                                                                                                     float | None]]:
    """[(name, (positions, channels) of batch row 0, seconds per position or None)] in forward order."""
    with capture(["conditioning_encoder", "perceiver_encoder"]) as acts:
        prompt = model.prompt_embeddings(mx.array(features), text)
    mx.eval(prompt)
    return [("reference features (w2v-BERT)", np.asarray(features)[0], FEATURE_SECONDS),
            ("Conformer (subsampled x2)", np.array(acts["conditioning_encoder"][0]), 2 * FEATURE_SECONDS),
            ("perceiver latents", np.array(acts["perceiver_encoder"][0]), None),
            ("GPT-2 prompt: latents+emotion, speed, text", np.array(prompt[0]), None)]
