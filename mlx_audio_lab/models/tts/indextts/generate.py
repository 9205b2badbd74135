"""IndexTTS mel-code generation on the shared loop: the prompt embeddings are fed on the first step, then each
code with its mel position (see model.py for upstream's offset)."""

from __future__ import annotations

from collections.abc import Iterator

import mlx.core as mx
import numpy as np

from ....generation import SamplingConfig
from ....generation.loop import Step, stream
from ....generation.sampling import GREEDY, Draws
from .model import IndexTTS


def code_forward(model: IndexTTS, features: np.ndarray, text: np.ndarray, emo_features: np.ndarray | None = None):
    """forward(tokens (B, T)) -> last logits (B, V): first call [start_mel] after the prompt, then one code a call."""
    cache = model.make_cache()
    fed = [0]  # mel tokens fed so far

    def forward(tokens: mx.array) -> mx.array:
        if fed[0] == 0:
            emo = None if emo_features is None else mx.array(emo_features)
            prefix = model.prompt_embeddings(mx.array(features), text, emo)
            x = mx.concatenate([prefix, model.mel_input(tokens, 0)], axis=1)
        else:
            x = model.mel_input(tokens, fed[0] + 1)
        fed[0] += tokens.shape[1]
        return model.step(x, cache)

    return forward


def generate_codes(model: IndexTTS, features: np.ndarray, text: np.ndarray, config: SamplingConfig = GREEDY,
                   draws: Draws | None = None, *, max_steps: int | None = None, emo_features: np.ndarray | None = None,
                   trace: bool = False) -> Iterator[Step]:
    """Stream mel codes (stop code included when reached); `features` (B, T, 1024), `text` (B, L) ids."""
    c = model.config
    start = np.full((np.atleast_2d(text).shape[0], 1), c.start_mel_token, dtype=np.int64)
    yield from stream(code_forward(model, features, text, emo_features), start, config, draws,
                      max_steps=max_steps or c.max_mel_tokens, stop_tokens=(c.stop_mel_token,), trace=trace)
