"""Temperature fallback, as transformers' `generate_with_fallback` (which follows openai/whisper).

Each window is decoded at the first temperature; when the result repeats itself (gzip compression ratio of
its token bytes above a threshold) or is unlikely (average log-probability, end-of-text included, below a
threshold), it is decoded again at the next temperature, by sampling. A window whose average log-probability
is low *and* whose no-speech probability (of `<|nocaptions|>` right after `<|startoftranscript|>`, raw logits)
is high is skipped as silence. Sampling takes its uniform numbers from an explicit source of draws, so the
same draws give the same tokens in two frameworks (inverse CDF in vocabulary order, float64).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import mlx.core as mx
import numpy as np

from .decoding import LogitRules, _last_logits, _prefill, beam_search, log_softmax

if TYPE_CHECKING:
    from .model import Whisper


class Draws(Protocol):
    """A source of uniform numbers in [0, 1), one per sampled token."""

    def next(self) -> float: ...


class SeededDraws:
    """Uniform draws from numpy's PCG64 with a seed; `history` keeps what was handed out."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.history: list[float] = []

    def next(self) -> float:
        u = float(self.rng.random())
        self.history.append(u)
        return u


def pick_inverse_cdf(probs: np.ndarray, u: float) -> int:
    """The first index whose cumulative probability exceeds u * total (float64)."""
    c = np.cumsum(np.asarray(probs, np.float64))
    return int(min(np.searchsorted(c, u * c[-1], side="right"), len(c) - 1))


@dataclass
class FallbackOptions:
    """transformers' generate arguments for long-form quality control (None: that check is off)."""

    temperatures: tuple[float, ...] = (0.0,)
    compression_ratio_threshold: float | None = None
    logprob_threshold: float | None = None
    no_speech_threshold: float | None = None
    condition_on_previous_text: bool = False
    draws: Draws | None = None  # for temperatures > 0 (default: SeededDraws(0))
    top_k: int | None = 50  # transformers' generate samples from the top 50 (openai-whisper: None, all tokens)


@dataclass
class Attempt:
    """The decoding a window keeps, and the numbers that decided it."""

    tokens: list[int]  # new tokens, end-of-text included when generated
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float | None
    needs_fallback: bool
    skip: bool


def compression_ratio(tokens: list[int], vocab_size: int) -> float:
    """Bytes of the tokens (little-endian, fixed width) over their zlib-compressed size."""
    width = int(math.log2(vocab_size) / 8) + 1
    raw = b"".join(t.to_bytes(width, "little") for t in tokens)
    return len(raw) / len(zlib.compress(raw))


def no_speech_probability(model: Whisper, audio: mx.array, prompt: list[int], sot: int) -> float:
    """Probability of `<|nocaptions|>` (the id before `<|notimestamps|>`) right after `<|startoftranscript|>`."""
    at = prompt.index(sot)
    logits = _last_logits(model, mx.array([prompt[: at + 1]]), audio, model.new_state())[0]
    p = np.exp(log_softmax(logits[None].astype(np.float32))[0])
    return float(p[model.tokenizer.no_timestamps - 1])


def top_k_filter(scores: np.ndarray, k: int | None) -> np.ndarray:
    """Scores below the k-th largest set to -inf (ties kept), as transformers' `TopKLogitsWarper`."""
    if not k or k >= scores.shape[-1]:
        return scores
    kth = np.partition(scores, -k)[-k]
    return np.where(scores < kth, -np.inf, scores).astype(scores.dtype)


def sample(model: Whisper, audio: mx.array, prompt: list[int], temperature: float, draws: Draws | None,
           max_new_tokens: int, timestamps: bool, top_k: int | None = 50,
           forced: Sequence[int] = ()) -> tuple[list[int], float]:
    """Greedy (temperature 0) or sampled decoding of one window -> (new tokens, sum of their log-probabilities
    under the processed logits (top-k filtered when sampling), end-of-text included). `forced` tokens (a
    prefix) open the output as if generated (the timestamp rules see them) and are not scored."""
    eot, limit = model.config.eos_token_id, model.config.max_target_positions
    rules = LogitRules.for_model(model, timestamps)
    step, logits = _prefill(model, [*prompt, *forced], audio, 1)
    out: list[int] = list(forced)
    total = 0.0
    for _ in range(max_new_tokens):
        scores = rules(logits, [out])[0]
        if temperature > 0:
            scores = top_k_filter(scores, top_k)
            z = scores.astype(np.float64) / temperature
            p = np.exp(z - z.max())
            token = pick_inverse_cdf(p, draws.next())
        else:
            token = int(scores.argmax())
        total += float(log_softmax(scores[None])[0, token])
        out.append(token)
        if token == eot or len(prompt) + len(out) >= limit:
            break
        logits = step([token])
    return out, total


def decode_with_fallback(model: Whisper, audio: mx.array, prompt: list[int], beam_size: int, timestamps: bool,
                         opts: FallbackOptions, max_new_tokens: int | None = None,
                         forced: Sequence[int] = ()) -> Attempt:
    """Decode one window at each temperature in turn until the result passes the thresholds (or none is left).
    `forced` tokens (a prefix) open the window's output, as faster-whisper's `prefix`."""
    room = model.config.max_target_positions - len(prompt) - len(forced)
    if max_new_tokens is not None:
        room = min(room, max_new_tokens)
    draws = opts.draws if opts.draws is not None else SeededDraws(0)
    no_speech = None
    if opts.no_speech_threshold is not None:
        no_speech = no_speech_probability(model, audio, prompt, model.tokenizer.sot)
    attempt = None
    for temperature in opts.temperatures:
        t = float(temperature or 0.0)
        if t == 0.0 and beam_size > 1:
            tokens, avg = beam_search(model, audio, prompt, beam_size, max_new_tokens=room, timestamps=timestamps,
                                      return_score=True, forced=forced)
        else:
            tokens, total = sample(model, audio, prompt, t, draws, room, timestamps, opts.top_k, forced)
            avg = total / max(len(tokens) - len(forced), 1)
        ratio = compression_ratio(tokens, model.config.vocab_size)
        fallback = (opts.compression_ratio_threshold is not None and ratio > opts.compression_ratio_threshold) or (
            opts.logprob_threshold is not None and avg < opts.logprob_threshold)
        skip = (no_speech is not None and opts.logprob_threshold is not None and avg < opts.logprob_threshold
                and no_speech > opts.no_speech_threshold)
        attempt = Attempt(tokens, t, avg, ratio, no_speech, fallback and not skip, skip)
        if not attempt.needs_fallback:
            break
    return attempt
