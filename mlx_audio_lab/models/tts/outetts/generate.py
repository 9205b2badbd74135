"""OuteTTS inference: prompt (text + speaker profile) -> tokens (generation loop) -> c1/c2 codes -> DAC audio."""

from __future__ import annotations

import time
from collections.abc import Iterator

import mlx.core as mx

from ....generation import SamplingConfig, SeededDraws, stream
from ....results import AudioResult, RunStats
from .config import ENGINE_SAMPLING

DEFAULT_SAMPLING = SamplingConfig(**ENGINE_SAMPLING)
TOKENS_PER_FRAME = 2  # <|c1_a|><|c2_b|>; the word markup between frames counts against the budget too
DEFAULT_MAX_FRAMES = 1500  # 20 s at 75 frames/s


def generate_tokens(model, prompt: list[int], sampling: SamplingConfig = DEFAULT_SAMPLING, draws=None,
                    max_frames: int = DEFAULT_MAX_FRAMES, trace: bool = False):
    """The loop's `Step`s for a prompt, stopping at <|audio_end|> / <|im_end|> or after `max_frames` * 2 tokens."""
    return stream(model.forward(), prompt, sampling, draws, max_steps=max_frames * TOKENS_PER_FRAME,
                  stop_tokens=model.stop_tokens, trace=trace)


def sampling_options(temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                     min_p: float | None = None, repetition_penalty: float | None = None) -> SamplingConfig:
    """The package's sampling with the given settings replaced (None keeps its value)."""
    given = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "min_p": min_p,
             "repetition_penalty": repetition_penalty}
    return SamplingConfig(**{**ENGINE_SAMPLING, **{k: v for k, v in given.items() if v is not None}})


def traced_steps(model, text: str, voice=None, seed: int = 0, max_frames: int = 16, **sampling):
    """The loop's `Step`s with logits per processor stage (for `inspect.SamplingInspector.from_outetts`)."""
    config = sampling_options(**sampling)
    draws = None if config.greedy else SeededDraws(seed)
    return generate_tokens(model, model.prompt_ids(text, voice), config, draws, max_frames, trace=True)


def generate(model, text: str, voice=None, temperature: float | None = None, top_k: int | None = None,
             top_p: float | None = None, min_p: float | None = None, repetition_penalty: float | None = None,
             seed: int | None = 0, max_frames: int = DEFAULT_MAX_FRAMES, draws=None,
             speed: float = 1.0, prompt_text: str | None = None) -> Iterator[AudioResult]:
    """Speech for `text` in the voice of a speaker profile, as one `AudioResult` (codes (2, frames) in extras).

    Sampling defaults to the package's (temperature 0.4, top-k 40, top-p 0.9, min-p 0.05, repetition penalty
    1.1 over 64 tokens); `temperature=0` is greedy; `seed` seeds the draws. OuteTTS has no speed control.
    `voice` may be a reference clip (cloned, see `clone.py`); `prompt_text` is then what the clip says.
    """
    if speed != 1.0:
        raise ValueError("OuteTTS has no speed control (speed must be 1.0)")
    if model.codec is None or model.audio_tokens is None:
        raise ValueError("no DAC codec or tokenizer attached: load_model(folder) with tokenizer.json and dac/")
    sampling = sampling_options(temperature, top_k, top_p, min_p, repetition_penalty)
    draws = draws if draws is not None else (None if sampling.greedy else SeededDraws(seed or 0))
    mx.reset_peak_memory()
    t0 = time.perf_counter()
    tokens = [s.token for s in generate_tokens(model, model.prompt_ids(text, voice, prompt_text), sampling, draws,
                                                      max_frames)]
    codes = model.audio_tokens.codes(tokens)
    if codes.shape[1] == 0:
        return
    audio = model.codec.decode(codes)
    elapsed = time.perf_counter() - t0
    rate = model.sample_rate
    stats = RunStats(rate, len(audio) / rate, elapsed, mx.get_peak_memory() / 2**20, len(tokens))
    yield AudioResult(audio, stats, text, tokens=tokens,
                      extras={"codes": codes, "tokens_per_second": len(tokens) / elapsed if elapsed > 0 else 0.0})
