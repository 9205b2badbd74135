"""`IndexTTS.generate`: text (without NeMo normalisation, see text.py) and a voice clip -> audio at 22.05 kHz, the
whole chain of `synthesis.clone` with the parts read lazily from the checkpoint folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....generation import SamplingConfig, SeededDraws
from ....generation.sampling import GREEDY
from ....results import AudioResult, RunStats

SAMPLE_RATE = 22050
MAX_VOICE_SECONDS = 15  # infer_v2 cuts the reference clip to its first 15 s
# IndexTTS2.infer's sampling defaults (do_sample, top_p 0.8, top_k 30, temperature 0.8, repetition_penalty 10)
DEFAULT_SAMPLING = SamplingConfig(temperature=0.8, top_k=30, top_p=0.8, repetition_penalty=10.0)


class Parts:
    """The stages beside the GPT, loaded on first use from the folder: tokenizer, semantic front end, s2mel,
    CAMPPlus, BigVGAN."""

    def __init__(self, folder: str | Path):
        from .s2mel import load_s2mel
        from .semantic import load_semantic
        from .synthesis import load_campplus, load_vocoder
        from .text import TextTokenizer, bpe_path

        self.tokenizer = TextTokenizer(bpe_path(folder))
        self.semantic = load_semantic(folder)
        self.s2mel = load_s2mel(folder)
        self.campplus = load_campplus(folder)
        self.vocoder = load_vocoder(folder)


def sampling_config(temperature: float | None, top_k: int | None, top_p: float | None) -> SamplingConfig:
    """Temperature 0: greedy (what `synthesis.clone` does); otherwise upstream's defaults with the given overrides."""
    if temperature == 0:
        return GREEDY
    d = DEFAULT_SAMPLING
    return SamplingConfig(temperature=d.temperature if temperature is None else temperature,
                          top_k=d.top_k if top_k is None else top_k, top_p=d.top_p if top_p is None else top_p,
                          repetition_penalty=d.repetition_penalty)


def generate(model, text: str, voice: str | Path | np.ndarray | None = None, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = 0,
             max_frames: int | None = None, speed: float = 1.0) -> Iterator[AudioResult]:
    """Speech for `text` in the voice of a clip (path, or a 16 kHz array). extras["codes"]: GPT mel codes (1, N)."""
    from ....audio import load_audio
    from .synthesis import clone

    if voice is None:
        raise ValueError("IndexTTS 2 has no built-in voice: give a reference clip to clone (--voice clip.wav)")
    if speed != 1.0:
        raise ValueError("IndexTTS 2 has no speed control here (speed must be 1.0)")
    if getattr(model, "_parts", None) is None:
        model._parts = Parts(model.source)
    parts = model._parts
    ids = parts.tokenizer.encode(text)
    limit = model.config.max_text_tokens
    if ids.shape[1] > limit:
        raise ValueError(f"the text is {ids.shape[1]} tokens, more than this checkpoint's {limit}: shorten it")
    if isinstance(voice, (str, Path)):
        voice16, voice22 = load_audio(voice, 16000), load_audio(voice, SAMPLE_RATE)
    else:
        voice16 = np.asarray(voice, np.float32)
        voice22 = load_audio(voice16, SAMPLE_RATE, source_rate=16000)
    voice16, voice22 = voice16[: MAX_VOICE_SECONDS * 16000], voice22[: MAX_VOICE_SECONDS * SAMPLE_RATE]
    config = sampling_config(temperature, top_k, top_p)
    t0 = time.perf_counter()
    mx.reset_peak_memory()
    out = clone(model, parts.s2mel, parts.semantic, parts.campplus, parts.vocoder, voice16, voice22, ids,
                max_codes=max_frames, seed=seed or 0, sampling=config,
                draws=None if config.greedy else SeededDraws(seed or 0))
    audio = out["audio"]
    stats = RunStats(SAMPLE_RATE, len(audio) / SAMPLE_RATE, time.perf_counter() - t0, mx.get_peak_memory() / 2**20,
                     int(out["codes"].shape[1]))
    yield AudioResult(audio, stats, text, tokens=out["codes"][0].tolist(),
                      extras={"codes": out["codes"], "text_ids": ids, "mel": out["mel"][0]})
