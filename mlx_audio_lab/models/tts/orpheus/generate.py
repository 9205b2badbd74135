"""Orpheus inference: prompt -> audio tokens (generation loop) -> 7-token frames -> SNAC audio, streamed.

Each yielded `AudioResult` covers `chunk_frames` new frames, decoded with the frames before it as left
context (SNAC's decoder is convolutional, so the chunk is cut from the decode of the context + chunk).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import mlx.core as mx
import numpy as np

from ....generation import SamplingConfig, SeededDraws, stream
from ....results import AudioResult, RunStats
from .config import ENGINE_MAX_TOKENS, ENGINE_SAMPLING
from .layout import SLOTS

DEFAULT_SAMPLING = SamplingConfig(**ENGINE_SAMPLING)
CONTEXT_FRAMES = 4  # decoder context carried into each chunk


def generate_tokens(model, prompt: list[int], sampling: SamplingConfig = DEFAULT_SAMPLING, draws=None,
                    max_frames: int = ENGINE_MAX_TOKENS // SLOTS, trace: bool = False):
    """The loop's `Step`s for a prompt, stopping at end of speech or after `max_frames` * 7 tokens."""
    return stream(model.forward(), prompt, sampling, draws, max_steps=max_frames * SLOTS,
                  stop_tokens=[model.layout.end_of_speech], trace=trace)


def sampling_options(temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                     repetition_penalty: float | None = None) -> SamplingConfig:
    """The engine's sampling with the given settings replaced (None keeps the engine's)."""
    base = DEFAULT_SAMPLING
    return SamplingConfig(
        temperature=base.temperature if temperature is None else temperature,
        top_k=base.top_k if top_k is None else top_k, top_p=base.top_p if top_p is None else top_p,
        repetition_penalty=base.repetition_penalty if repetition_penalty is None else repetition_penalty)


def traced_steps(model, text: str, voice: str | None = None, seed: int = 0, max_frames: int = 16, **sampling):
    """The loop's `Step`s with logits per processor stage (for `inspect.SamplingInspector.from_orpheus`)."""
    config = sampling_options(**sampling)
    draws = None if config.greedy else SeededDraws(seed)
    return generate_tokens(model, model.prompt_ids(text, voice), config, draws, max_frames, trace=True)


def _decode(model, grid: np.ndarray, first: int, seed: int | None) -> np.ndarray:
    """Audio of frames [first:] of the grid (7, frames), decoded with up to CONTEXT_FRAMES frames before."""
    start = max(first - CONTEXT_FRAMES, 0)
    audio = model.codec.decode(grid[:, start:], seed=seed)
    hop = len(audio) // max(grid.shape[1] - start, 1)  # samples per frame
    return audio[(first - start) * hop:]


def generate(model, text: str, voice: str | None = None, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, repetition_penalty: float | None = None,
             seed: int | None = 0, max_frames: int = ENGINE_MAX_TOKENS // SLOTS, chunk_frames: int = 16,
             draws=None, speed: float = 1.0) -> Iterator[AudioResult]:
    """Speech for `text` as `AudioResult` chunks of `chunk_frames` frames (~1.4 s at 12 frames/s).

    Sampling defaults to the reference engine's (temperature 0.6, top-p 0.8, repetition penalty 1.3);
    `temperature=0` is greedy. `seed` seeds the draws (and SNAC's decoder noise); `speed` is not supported
    by Orpheus and must be 1. Each chunk's `extras` holds its code grid (7, frames) and dropped frames.
    """
    if speed != 1.0:
        raise ValueError("Orpheus has no speed control (speed must be 1.0)")
    if model.codec is None:
        raise ValueError("no SNAC codec attached: load_model(folder, codec=SNAC folder)")
    sampling = sampling_options(temperature, top_k, top_p, repetition_penalty)
    draws = draws if draws is not None else (None if sampling.greedy else SeededDraws(seed or 0))
    prompt = model.prompt_ids(text, voice)
    rate = model.sample_rate
    tokens: list[int] = []
    emitted, t0 = 0, time.perf_counter()
    mx.reset_peak_memory()

    def chunk(final: bool) -> AudioResult | None:
        nonlocal emitted, t0
        grid, dropped = model.layout.frames(tokens)
        if grid.shape[1] <= emitted or (not final and grid.shape[1] - emitted < chunk_frames):
            return None
        audio = _decode(model, grid, emitted, seed)
        new = grid[:, emitted:]
        elapsed = time.perf_counter() - t0
        stats = RunStats(rate, len(audio) / rate, elapsed, mx.get_peak_memory() / 2**20, new.size)
        result = AudioResult(audio, stats, text, tokens=model.layout.tokens(new).tolist(),
                             extras={"codes": new, "frames": (emitted, grid.shape[1]), "dropped_frames": dropped,
                                     "tokens_per_second": new.size / elapsed if elapsed > 0 else float("nan")})
        emitted, t0 = grid.shape[1], time.perf_counter()
        return result

    for step in generate_tokens(model, prompt, sampling, draws, max_frames):
        tokens.append(step.token)
        out = chunk(final=False)
        if out is not None:
            yield out
    out = chunk(final=True)
    if out is not None:
        yield out
