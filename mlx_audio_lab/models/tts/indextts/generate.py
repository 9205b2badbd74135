"""IndexTTS mel-code generation on the shared loop: the prompt embeddings are fed on the first step, then each
code with its mel position (see model.py for upstream's offset)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....generation import SamplingConfig
from ....generation.loop import Step, stream
from ....generation.sampling import GREEDY, Draws

if TYPE_CHECKING:
    from .model import IndexTTS


def code_forward(model: IndexTTS, features: np.ndarray, text: np.ndarray, emo_features: np.ndarray | None = None):
    """forward(tokens (B, T)) -> last logits (B, V): the first call ends in start_mel (placed after the prompt
    embeddings), then one code a call."""
    cache = model.make_cache()
    fed = [0]  # mel tokens fed so far

    def forward(tokens: mx.array) -> mx.array:
        if fed[0] == 0:
            emo = None if emo_features is None else mx.array(emo_features)
            prefix = model.prompt_embeddings(mx.array(features), text, emo)
            x = mx.concatenate([prefix, model.mel_input(tokens[:, -1:], 0)], axis=1)
            fed[0] = 1
        else:
            x = model.mel_input(tokens, fed[0] + 1)
            fed[0] += tokens.shape[1]
        return model.step(x, cache)

    return forward


def generate_codes(model: IndexTTS, features: np.ndarray, text: np.ndarray, config: SamplingConfig = GREEDY,
                   draws: Draws | None = None, *, max_steps: int | None = None, emo_features: np.ndarray | None = None,
                   trace: bool = False) -> Iterator[Step]:
    """Stream mel codes (stop code included when reached); `features` (B, T, 1024), `text` (B, L) ids.

    The history the repetition penalty sees is upstream's: `generate` is handed placeholder ids (all 1) for the
    prompt positions, then start_mel, so code 1 is penalized from the first step as upstream does."""
    c = model.config
    B = np.atleast_2d(text).shape[0]
    start = np.concatenate([np.ones((B, model.prompt_length(text)), np.int64),
                            np.full((B, 1), c.start_mel_token, np.int64)], axis=1)
    yield from stream(code_forward(model, features, text, emo_features), start, config, draws,
                      max_steps=max_steps or c.max_mel_tokens, stop_tokens=(c.stop_mel_token,), trace=trace)
