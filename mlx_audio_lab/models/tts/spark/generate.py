"""Spark-TTS inference: prompt -> tokens (generation loop) -> BiCodec semantic (+ global) tokens -> 16 kHz audio."""

from __future__ import annotations

import time
from collections.abc import Iterator

import mlx.core as mx
import numpy as np

from ....generation import SamplingConfig, SeededDraws, stream
from ....results import AudioResult, RunStats
from .config import ENGINE_MAX_NEW_TOKENS, ENGINE_SAMPLING
from .prompt import LEVELS, parse_tokens

DEFAULT_SAMPLING = SamplingConfig(**ENGINE_SAMPLING)


def generate_tokens(model, prompt: list[int], sampling: SamplingConfig = DEFAULT_SAMPLING, draws=None,
                    max_tokens: int = ENGINE_MAX_NEW_TOKENS, trace: bool = False):
    """The loop's `Step`s for a prompt, stopping at the LM's end-of-sequence ids or after `max_tokens`."""
    return stream(model.forward(), prompt, sampling, draws, max_steps=max_tokens, stop_tokens=model.stop_tokens,
                  trace=trace)


def sampling_options(temperature: float | None = None, top_k: int | None = None,
                     top_p: float | None = None) -> SamplingConfig:
    """Upstream's sampling (temperature 0.8, top-k 50, top-p 0.95) with the given settings replaced."""
    given = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    return SamplingConfig(**{**ENGINE_SAMPLING, **{k: v for k, v in given.items() if v is not None}})


def audio_tokens(model, tokens: list[int], voice_globals=None) -> tuple[np.ndarray, np.ndarray]:
    """(global (1, 32), semantic (1, T)) from generated ids, as upstream parses them (regex on decoded text)."""
    text = model.tokenizer.decode([int(t) for t in tokens], skip_special_tokens=True)
    semantic = parse_tokens(text, "semantic")[None]
    if voice_globals is not None:
        return np.asarray(voice_globals).reshape(1, -1), semantic
    return parse_tokens(text, "global")[None], semantic


def generate(model, text: str, voice=None, gender: str | None = None, pitch: str | None = None,
             speed: str | float | None = None, prompt_text: str | None = None, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = 0,
             max_frames: int = ENGINE_MAX_NEW_TOKENS, draws=None) -> Iterator[AudioResult]:
    """Speech for `text`: cloned from `voice` (a clip) or created from `gender` / `pitch` / `speed` levels.

    Sampling defaults to upstream's (temperature 0.8, top-k 50, top-p 0.95); `temperature=0` is greedy;
    `max_frames` bounds the generated tokens. The codes (1, frames) are the semantic tokens; the global tokens
    used are in `extras["global_tokens"]`.
    """
    if speed is not None and not isinstance(speed, str):  # a rate: only the neutral 1.0 is accepted (ignored)
        if float(speed) != 1.0:
            raise ValueError(f"Spark-TTS takes a speed level ({', '.join(LEVELS)}), not a rate ({speed})")
        speed = None
    if model.tokenizer is None or model.codec is None:
        raise ValueError("no tokenizer or BiCodec attached: load_model(folder) of a Spark-TTS folder")
    mx.reset_peak_memory()
    t0 = time.perf_counter()
    globals_ = None
    style = {"gender": gender, "pitch": pitch, "speed": speed}
    if voice is not None and not isinstance(voice, tuple):
        voice = tuple(np.array(t) for t in model.voice_tokens(voice))
    if voice is not None:
        globals_ = voice[0]
    prompt = model.prompt_ids(text, voice, prompt_text=prompt_text, **style)
    sampling = sampling_options(temperature, top_k, top_p)
    draws = draws if draws is not None else (None if sampling.greedy else SeededDraws(seed or 0))
    tokens = [s.token for s in generate_tokens(model, prompt, sampling, draws, max_frames)]
    g, semantic = audio_tokens(model, tokens, globals_)
    need = model.codec.config.codec["speaker_encoder"]["token_num"]
    if g.shape[1] != need:
        raise ValueError(f"the model wrote {g.shape[1]} global tokens; BiCodec needs {need} (try a larger "
                         "--max-frames)")
    if semantic.shape[1] == 0:
        return
    audio = np.array(model.codec.detokenize(mx.array(g), mx.array(semantic))[0])
    elapsed = time.perf_counter() - t0
    rate = model.sample_rate
    stats = RunStats(rate, len(audio) / rate, elapsed, mx.get_peak_memory() / 2**20, len(tokens))
    yield AudioResult(audio, stats, text, tokens=tokens,
                      extras={"codes": semantic, "global_tokens": g, "prompt": prompt,
                              "tokens_per_second": len(tokens) / elapsed if elapsed > 0 else 0.0})
