"""Chatterbox generation: text -> speech tokens (T3, CFG, the reference's processor order) -> S3Gen -> 24 kHz.

The reference clip's S3 speech tokens come from the S3 tokenizer, ported separately (`models/codecs/s3_tokenizer`);
`prompt_speech_tokens` is the one place the pipeline asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ....generation import processors as P
from ....generation.sampling import Draws, SamplingConfig, pick_inverse_cdf
from .config import SPEECH_VOCAB
from .t3 import T3

# The reference's defaults (ChatterboxTTS.generate).
DEFAULT_SAMPLING = SamplingConfig(temperature=0.8, top_p=1.0, min_p=0.05, repetition_penalty=1.2)
DEFAULT_CFG_WEIGHT, DEFAULT_EXAGGERATION = 0.5, 0.5


@dataclass
class Conditionals:
    """What a voice gives the pipeline: T3's speaker vector (256) and prompt tokens, S3Gen's prompt and x-vector."""

    speaker: np.ndarray  # (1, 256) VoiceEncoder embedding
    t3_prompt_tokens: np.ndarray  # (1, <= 150) S3 tokens of the first 6 s at 16 kHz
    prompt_tokens: np.ndarray  # (1, Tp) S3 tokens of the clip (<= 10 s)
    prompt_mel: np.ndarray  # (1, 2 Tp, 80) S3Gen mel of the clip at 24 kHz
    xvector: np.ndarray  # (1, 192) CAMPPlus embedding


class NoSpeechTokenizer(ValueError):
    """A new voice needs its clip's S3 speech tokens and no tokenizer is attached."""


def prompt_speech_tokens(audio_16k: np.ndarray, max_len: int | None,
                         tokenizer: Callable[[np.ndarray, int | None], np.ndarray] | None) -> np.ndarray:
    """S3 speech tokens (1, T) of a 16 kHz clip (at most `max_len`): the one place the pipeline asks for them.

    `tokenizer` is the S3 tokenizer (the port in models/codecs/s3_tokenizer, attached at load when present)."""
    if tokenizer is None:
        raise NoSpeechTokenizer("a new voice needs the S3 speech tokens of its clip, and no S3 tokenizer is "
                                "attached (models/codecs/s3_tokenizer); use the built-in voice (no --voice) or "
                                "pass Conditionals with the clip's tokens")
    return np.asarray(tokenizer(np.asarray(audio_16k, np.float32), max_len), np.int64).reshape(1, -1)


def process_t3(logits: mx.array, history: np.ndarray, sampling: SamplingConfig) -> mx.array:
    """The reference's order: repetition penalty, temperature, min-p, top-p (logits (1, V))."""
    if sampling.repetition_penalty != 1.0:
        logits = P.repetition_penalty(logits, history, sampling.repetition_penalty)
    if sampling.greedy:
        return logits
    if sampling.temperature != 1.0:
        logits = P.temperature(logits, sampling.temperature)
    if sampling.min_p > 0:
        logits = P.min_p(logits, sampling.min_p)
    return P.top_p(logits, sampling.top_p) if sampling.top_p < 1.0 else logits


def speech_tokens(t3: T3, text_tokens: np.ndarray, speaker: np.ndarray, prompt_tokens: np.ndarray,
                  exaggeration: float = DEFAULT_EXAGGERATION, cfg_weight: float = DEFAULT_CFG_WEIGHT,
                  sampling: SamplingConfig = DEFAULT_SAMPLING, draws: Draws | None = None,
                  max_new_tokens: int = 1000, logits_out: list | None = None,
                  forced: np.ndarray | None = None) -> np.ndarray:
    """text ids (L,) (no start / stop) -> predicted speech tokens (T,), the stop token last if reached.

    `logits_out` collects each step's guided logits (1, V) before the processors; `forced` (T,) feeds those
    tokens instead of the picked ones (teacher forcing, for parity)."""
    cfg = t3.config
    ids = np.concatenate([[cfg.start_text_token], np.asarray(text_tokens).reshape(-1), [cfg.stop_text_token]])
    guided = cfg_weight > 0
    cache = t3.make_cache()
    embeds = t3.prompt(mx.array(ids[None]), mx.array(speaker), mx.array(prompt_tokens), exaggeration, guided)
    logits = t3(embeds, cache)[:, -1]
    history = [cfg.start_speech_token]
    for i in range(max_new_tokens):
        step = logits[0:1] + cfg_weight * (logits[0:1] - logits[1:2]) if guided else logits[0:1]
        if logits_out is not None:
            logits_out.append(np.array(step))
        x = process_t3(step, np.array([history]), sampling)
        if sampling.greedy:
            token = int(mx.argmax(x, axis=-1).item())
        else:
            if draws is None:
                raise ValueError("sampling (temperature > 0) needs a source of draws, e.g. SeededDraws(seed)")
            token = int(pick_inverse_cdf(np.array(mx.softmax(x, axis=-1)), draws.next(1))[0])
        if forced is not None:
            if i >= len(forced):
                break
            token = int(forced[i])
        history.append(token)
        if token == cfg.stop_speech_token:
            break
        emb = t3.speech_embed(mx.array([[token]]), i + 1)
        logits = t3(mx.broadcast_to(emb, (embeds.shape[0], 1, emb.shape[-1])), cache)[:, -1]
    return np.array(history[1:], np.int64)


def valid_speech_tokens(tokens: np.ndarray) -> np.ndarray:
    """Drop start / stop / padding ids (>= 6561): what S3Gen can read."""
    tokens = np.asarray(tokens).reshape(-1)
    return tokens[tokens < SPEECH_VOCAB]
