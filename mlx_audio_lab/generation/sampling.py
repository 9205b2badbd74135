"""Sampling with an explicit source of uniform draws, so two frameworks fed the same draws pick the same tokens.

`process` applies the processors in `transformers`' order (CFG, repetition penalty, temperature, top-k,
top-p, min-p); `sample` turns the result into probabilities and picks by inverse CDF in vocabulary order:
the first token whose cumulative probability exceeds u * total, with u from `draws`. `pick_inverse_cdf`
is framework-free (numpy float64) so the PyTorch twin in `parity.generation` runs the same pick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import mlx.core as mx
import numpy as np

from . import processors as P


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings; temperature 0 is greedy (argmax). top_k 0, top_p 1, min_p 0, penalty 1 are off."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    cfg_scale: float = 1.0
    repetition_window: int = 0  # the penalty sees only the last N tokens (0: the whole context)

    def penalized(self, history: np.ndarray) -> np.ndarray | None:
        """The tokens (B, T') the repetition penalty sees out of `history` (B, T); None when it is off."""
        if self.repetition_penalty == 1.0:
            return None
        return history[:, -self.repetition_window:] if self.repetition_window > 0 else history

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def stages(self) -> list[str]:
        """Names of the processors this config turns on, in the order they run."""
        on = [("cfg", self.cfg_scale != 1.0), ("repetition_penalty", self.repetition_penalty != 1.0),
              ("temperature", not self.greedy and self.temperature != 1.0),
              ("top_k", not self.greedy and self.top_k > 0),
              ("top_p", not self.greedy and self.top_p < 1.0), ("min_p", not self.greedy and self.min_p > 0)]
        return [name for name, used in on if used]


GREEDY = SamplingConfig(temperature=0.0)


class Draws(Protocol):
    """A source of uniform numbers in [0, 1): one per sequence of the batch per sampled step."""

    def next(self, batch: int) -> np.ndarray: ...


class SeededDraws:
    """Draws from numpy's PCG64 seeded with `seed`; `history` keeps every draw handed out."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.history: list[np.ndarray] = []

    def next(self, batch: int) -> np.ndarray:
        u = self.rng.random(batch)
        self.history.append(u)
        return u


class RecordedDraws:
    """Replays a given array of draws (steps x batch, or flat) in order; raises when it runs out."""

    def __init__(self, draws: np.ndarray):
        self.draws = np.asarray(draws, dtype=np.float64).reshape(-1)
        self.used = 0

    def next(self, batch: int) -> np.ndarray:
        if self.used + batch > self.draws.size:
            raise IndexError(f"recorded draws exhausted after {self.used} of {self.draws.size}")
        u = self.draws[self.used:self.used + batch]
        self.used += batch
        return u


def process(logits: mx.array, config: SamplingConfig, previous_tokens=None, uncond_logits: mx.array | None = None,
            trace: list | None = None) -> mx.array:
    """Logits (B, V) through the processors `config` turns on; `trace` (a list) collects (stage, logits)."""
    def step(name: str, x: mx.array) -> mx.array:
        if trace is not None:
            trace.append((name, x))
        return x

    x = step("raw", logits)
    if config.cfg_scale != 1.0:
        if uncond_logits is None:
            raise ValueError("cfg_scale != 1 needs the unconditional logits")
        x = step("cfg", P.cfg(x, uncond_logits, config.cfg_scale))
    if config.repetition_penalty != 1.0 and previous_tokens is not None:
        x = step("repetition_penalty", P.repetition_penalty(x, previous_tokens, config.repetition_penalty))
    if config.greedy:
        return x
    if config.temperature != 1.0:
        x = step("temperature", P.temperature(x, config.temperature))
    if config.top_k > 0:
        x = step("top_k", P.top_k(x, config.top_k))
    if config.top_p < 1.0:
        x = step("top_p", P.top_p(x, config.top_p))
    if config.min_p > 0:
        x = step("min_p", P.min_p(x, config.min_p))
    return x


def pick_inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Probabilities (B, V) and draws (B,) -> for each row the first index whose cumulative sum > u * total."""
    cdf = np.cumsum(np.asarray(probs, dtype=np.float64), axis=-1)
    target = np.asarray(u, dtype=np.float64) * cdf[:, -1]
    picks = np.array([np.searchsorted(c, t, side="right") for c, t in zip(cdf, target)], dtype=np.int64)
    last_nonzero = (probs.shape[-1] - 1) - np.argmax(np.asarray(probs)[:, ::-1] > 0, axis=-1)
    return np.minimum(picks, last_nonzero)  # u * total rounding up to total stays on a possible token


def sample(logits: mx.array, config: SamplingConfig, draws: Draws | None = None, previous_tokens=None,
           uncond_logits: mx.array | None = None, trace: list | None = None) -> np.ndarray:
    """Logits (B, V) -> tokens (B,): argmax when greedy, else the inverse-CDF pick of the processed probabilities."""
    x = process(logits, config, previous_tokens, uncond_logits, trace)
    if config.greedy:
        return np.array(mx.argmax(x, axis=-1)).astype(np.int64)
    if draws is None:
        raise ValueError("sampling (temperature > 0) needs a source of draws, e.g. SeededDraws(seed)")
    probs = np.array(mx.softmax(x.astype(mx.float32), axis=-1))
    return pick_inverse_cdf(probs, draws.next(probs.shape[0]))
