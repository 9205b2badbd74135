"""The autoregressive loop: prompt -> KV-cached steps -> processors -> sampler, streamed one step at a time.

A port hands `stream` a `forward(tokens (B, T)) -> logits (B, V)` of the last position that keeps its
own KV cache (`lm_forward` builds one for any mlx-lm model), plus the prompt; `stream` yields a `Step`
per generated token, with the logits before and after each processor when `trace` is on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import mlx.core as mx
import numpy as np

from .sampling import GREEDY, Draws, SamplingConfig, sample

Forward = Callable[[mx.array], mx.array]


@dataclass
class Step:
    """One generated position: the chosen token per sequence, its time, and (traced) logits per stage."""

    index: int
    tokens: np.ndarray  # (B,) int64
    seconds: float
    stages: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (stage, logits (B, V)), "raw" first

    @property
    def token(self) -> int:
        """The token of sequence 0."""
        return int(self.tokens[0])


def lm_forward(model, cache: list | None = None) -> Forward:
    """A stateful forward for an mlx-lm causal LM: tokens (B, T) -> last-position logits (B, V), cache kept."""
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model) if cache is None else cache

    def forward(tokens: mx.array) -> mx.array:
        return model(tokens, cache=cache)[:, -1, :]

    return forward


def stream(forward: Forward, prompt: np.ndarray | list[int], config: SamplingConfig = GREEDY,
           draws: Draws | None = None, *, max_steps: int, stop_tokens: Iterable[int] = (),
           trace: bool = False) -> Iterator[Step]:
    """Generate up to `max_steps` tokens after `prompt` (T,) or (B, T); stops once every sequence emitted a stop token.

    The stop token is yielded (as transformers keeps EOS in its output); repetition penalty sees prompt + output
    (its last `config.repetition_window` tokens if set).
    """
    history = np.atleast_2d(np.asarray(prompt, dtype=np.int64))  # (B, T)
    stop = np.array(sorted(set(int(t) for t in stop_tokens)), dtype=np.int64)
    done = np.zeros(history.shape[0], dtype=bool)
    x = mx.array(history.astype(np.int32))
    for i in range(max_steps):
        t0 = time.perf_counter()
        logits = forward(x).astype(mx.float32)  # (B, V)
        stages: list = [] if trace else None
        tokens = sample(logits, config, draws, config.penalized(history), trace=stages)
        step = Step(i, tokens, time.perf_counter() - t0,
                    [(name, np.array(v)) for name, v in stages] if trace else [])
        yield step
        history = np.concatenate([history, tokens[:, None]], axis=1)
        done |= np.isin(tokens, stop)
        if done.all():
            return
        x = mx.array(tokens[:, None].astype(np.int32))


def generate(forward: Forward, prompt, config: SamplingConfig = GREEDY, draws: Draws | None = None,
             *, max_steps: int, stop_tokens: Iterable[int] = ()) -> np.ndarray:
    """All tokens of `stream` as an array (B, steps)."""
    steps = [s.tokens for s in stream(forward, prompt, config, draws, max_steps=max_steps, stop_tokens=stop_tokens)]
    return np.stack(steps, axis=1) if steps else np.zeros((np.atleast_2d(prompt).shape[0], 0), np.int64)


def teacher_forced_logits(forward: Forward, tokens: np.ndarray | list[int], n_prompt: int) -> np.ndarray:
    """Logits (B, steps, V) predicting tokens[n_prompt:], feeding the given sequence (not the model's picks)."""
    seq = np.atleast_2d(np.asarray(tokens, dtype=np.int64))
    out = [np.array(forward(mx.array(seq[:, :n_prompt].astype(np.int32))).astype(mx.float32))]
    for t in range(n_prompt, seq.shape[1] - 1):
        out.append(np.array(forward(mx.array(seq[:, t:t + 1].astype(np.int32))).astype(mx.float32)))
    return np.stack(out, axis=1)
