"""The Chatterbox pipeline: a voice (clip or built-in) -> conditionals; text -> T3 speech tokens -> S3Gen -> audio.

    voice clip ─┬─ 16 kHz ─ VoiceEncoder ─ speaker (1, 256) ───────────────┐
                ├─ 16 kHz ─ S3 tokenizer ─ prompt tokens (1, <= 150) ─────┤
                │                                                         T3 ── speech tokens (T,) ──┐
    text ── tokenizer.json ─ ids (L,) ────────────────────────────────────┘                          │
                ├─ 24 kHz ─ S3Gen mel ─ prompt mel (1, 2 Tp, 80) ─┐                                   │
                ├─ 16 kHz ─ CAMPPlus ─ x-vector (1, 192) ─────────┼── flow (Euler, CFG) ─ mel (1, 2T, 80)
                └─ 16 kHz ─ S3 tokenizer ─ prompt tokens (1, Tp) ─┘                 └─ HiFT ─ audio (480 T·2)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....audio import load_audio, resample
from ....generation.sampling import SamplingConfig, SeededDraws
from ....results import AudioResult, RunStats
from .config import S3_SR, S3GEN_SR, HiFTConfig
from .flow import FlowConfig
from .frontend import s3gen_mel
from .generate import (
    DEFAULT_CFG_WEIGHT,
    DEFAULT_EXAGGERATION,
    DEFAULT_SAMPLING,
    Conditionals,
    prompt_speech_tokens,
    speech_tokens,
    valid_speech_tokens,
)
from .s3gen import S3Gen
from .t3 import T3, T3Config
from .text import TextTokenizer
from .voice_encoder import VoiceEncoder

T3_PROMPT_SECONDS, T3_PROMPT_TOKENS, S3GEN_PROMPT_SECONDS = 6, 150, 10  # the reference's ENC / DEC_COND_LEN


@dataclass
class ChatterboxConfig:
    """Every part's sizes (what the project's MLX layout stores in config.json)."""

    t3: dict = field(default_factory=dict)
    hift: dict = field(default_factory=dict)
    flow: dict = field(default_factory=dict)
    model_type: str = "chatterbox"

    def parts(self) -> tuple[T3Config, HiFTConfig, FlowConfig]:
        hift = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                for k, v in self.hift.items()}
        return T3Config(**self.t3), HiFTConfig(**hift), FlowConfig(**self.flow)


class Chatterbox(nn.Module):
    """The whole model: `t3`, `s3gen` (CAMPPlus, flow, HiFT), `ve`, the text tokenizer, a built-in voice."""

    sample_rate = S3GEN_SR
    samples_tokens = True  # speak's sampling flags apply

    def __init__(self, t3: T3, s3gen: S3Gen, ve: VoiceEncoder, tokenizer: TextTokenizer | None = None,
                 builtin: Conditionals | None = None,
                 speech_tokenizer: Callable[[np.ndarray, int | None], np.ndarray] | None = None):
        super().__init__()
        self.t3, self.s3gen, self.ve = t3, s3gen, ve
        self._tokenizer, self._builtin = tokenizer, builtin
        self._speech_tokenizer = speech_tokenizer  # 16 kHz audio, max tokens -> (1, T); None: no S3 tokenizer
        self.config = ChatterboxConfig(asdict(t3.config), asdict(s3gen.mel2wav.config), asdict(s3gen.flow.config))

    @property
    def tokenizer(self) -> TextTokenizer:
        return self._tokenizer

    @property
    def builtin(self) -> Conditionals | None:
        return self._builtin

    @property
    def speech_tokenizer(self):
        return self._speech_tokenizer

    @speech_tokenizer.setter
    def speech_tokenizer(self, fn) -> None:
        self._speech_tokenizer = fn

    def save_extras(self, folder: Path) -> None:
        """The MLX layout keeps the text tokenizer and the built-in voice (as conds.safetensors) beside the weights."""
        import shutil

        if self._tokenizer is not None and Path(self._tokenizer.path).resolve() != (Path(folder) / "tokenizer.json"):
            shutil.copy(self._tokenizer.path, Path(folder) / "tokenizer.json")
        if self._builtin is not None:
            mx.save_safetensors(str(Path(folder) / "conds.safetensors"),
                                {k: mx.array(v) for k, v in asdict(self._builtin).items()})

    def conditionals(self, clip: str | Path | np.ndarray, sample_rate: int = S3GEN_SR,
                     prompt_tokens: np.ndarray | None = None,
                     t3_prompt_tokens: np.ndarray | None = None) -> Conditionals:
        """A voice from a clip (path, or array at `sample_rate`), as `prepare_conditionals` builds it.

        The speech tokens of the clip come from `prompt_speech_tokens` unless given (S3Gen's prompt: the first
        10 s; T3's: the first 6 s at 16 kHz, at most 150 tokens)."""
        wav24 = load_audio(clip, S3GEN_SR, source_rate=sample_rate)
        wav16 = resample(wav24, S3GEN_SR, S3_SR)
        prompt24 = wav24[: S3GEN_PROMPT_SECONDS * S3GEN_SR]
        prompt16 = resample(prompt24, S3GEN_SR, S3_SR)
        if t3_prompt_tokens is None:
            t3_prompt_tokens = prompt_speech_tokens(wav16[: T3_PROMPT_SECONDS * S3_SR], T3_PROMPT_TOKENS,
                                                    self.speech_tokenizer)
        if prompt_tokens is None:
            prompt_tokens = prompt_speech_tokens(prompt16, None, self.speech_tokenizer)
        mel = np.array(s3gen_mel(prompt24))
        prompt_tokens = np.asarray(prompt_tokens).reshape(1, -1)[:, : mel.shape[1] // 2]  # 2 mel frames per token
        mel = mel[:, : 2 * prompt_tokens.shape[1]]
        return Conditionals(speaker=np.array(self.ve.embed(wav16)), t3_prompt_tokens=np.asarray(t3_prompt_tokens),
                            prompt_tokens=prompt_tokens, prompt_mel=mel,
                            xvector=np.array(self.s3gen.speaker_encoder.embed(prompt16)))

    def voice(self, voice: str | Path | np.ndarray | Conditionals | None) -> Conditionals:
        if isinstance(voice, Conditionals):
            return voice
        if voice is None:
            if self.builtin is None:
                raise ValueError("this checkpoint has no built-in voice (conds.pt): pass a reference clip as voice")
            return self.builtin
        return self.conditionals(voice)

    def generate(self, text: str, voice: str | Path | np.ndarray | Conditionals | None = None,
                 temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                 seed: int | None = 0, max_frames: int | None = None, exaggeration: float = DEFAULT_EXAGGERATION,
                 cfg_weight: float = DEFAULT_CFG_WEIGHT, speed: float = 1.0) -> Iterator[AudioResult]:
        """Speech for `text` in `voice` (one chunk). temperature 0 is greedy; `max_frames`: most speech tokens
        (25 per second); `seed` seeds the sampling draws and the flow's / HiFT's noise. extras["codes"]: (1, T)."""
        if speed != 1.0:
            raise ValueError("Chatterbox has no speed control (speed must be 1.0)")
        if top_k:
            raise ValueError("Chatterbox samples with min-p and top-p, not top-k (drop --top-k)")
        conds = self.voice(voice)
        base = DEFAULT_SAMPLING
        sampling = SamplingConfig(temperature=base.temperature if temperature is None else temperature,
                                  top_p=base.top_p if top_p is None else top_p, min_p=base.min_p,
                                  repetition_penalty=base.repetition_penalty)
        t0 = time.perf_counter()
        mx.reset_peak_memory()
        mx.random.seed(seed or 0)
        draws = None if sampling.greedy else SeededDraws(seed or 0)
        tokens = speech_tokens(self.t3, self.tokenizer.encode(text), conds.speaker, conds.t3_prompt_tokens,
                               exaggeration, cfg_weight, sampling, draws, max_new_tokens=max_frames or 1000)
        valid = valid_speech_tokens(tokens)
        if valid.size == 0:
            raise ValueError("T3 produced no speech tokens (only start / stop tokens); try another seed")
        mel = self.s3gen.flow(mx.array(valid[None]), mx.array(conds.prompt_tokens), mx.array(conds.prompt_mel),
                              mx.array(conds.xvector))
        audio = np.array(self.s3gen.vocode(mel))[0]
        elapsed = time.perf_counter() - t0
        stats = RunStats(self.sample_rate, len(audio) / self.sample_rate, elapsed, mx.get_peak_memory() / 2**20,
                         int(tokens.size))
        yield AudioResult(audio, stats, text, tokens=tokens.tolist(),
                          extras={"codes": tokens[None], "valid_tokens": valid, "mel": np.array(mel)[0]})
