"""Dia inference: encode the text (and, guided, an all-PAD text), then one delayed frame of all channels per step.

Per step, the logits (channels, vocab) go through Dia's processors in transformers' order: guidance (`guide`),
temperature, the EOS channel filter, top-k / top-p / min-p when sampling, then the EOS delay rule (`EosDelay`);
the pick is an argmax, or the inverse-CDF pick of the generation core with one draw per channel. Positions the
prefill fixes (BOS of delayed channels, a prompt's codes) are forced into the inputs, and the result is cut and
reverted as `DiaProcessor.batch_decode` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....generation import Draws, SamplingConfig, SeededDraws, Step
from ....generation import processors as P
from ....generation.sampling import pick_inverse_cdf
from ....results import AudioResult, RunStats
from . import delay, tokenizer

if TYPE_CHECKING:
    from .model import Dia

NEG_INF = float("-inf")


def guide(cond: mx.array, uncond: mx.array, scale: float, top_k: int | None = None) -> mx.array:
    """Dia's guidance: cond + scale * (cond - uncond); with `top_k`, the *conditional* logits on the guided
    top-k tokens (-inf elsewhere), as transformers' DiaClassifierFreeGuidanceLogitsProcessor."""
    guided = cond + (cond - uncond) * scale
    if not top_k:
        return guided
    k = min(top_k, guided.shape[-1])
    kth = mx.sort(guided, axis=-1)[..., -k][..., None]
    return mx.where(guided >= kth, cond, NEG_INF)


def eos_channel_filter(x: mx.array, eos: int) -> mx.array:
    """(channels, vocab): only channel 0 may end (ids > EOS banned there, ids >= EOS elsewhere); where EOS is a
    channel's top logit it is its only candidate, otherwise it is banned."""
    C, V = x.shape
    col, ch = mx.arange(V)[None, :], mx.arange(C)[:, None]
    x = mx.where(((ch > 0) & (col >= eos)) | ((ch == 0) & (col > eos)), NEG_INF, x)
    top = mx.argmax(x, axis=-1)[:, None]
    x = mx.where((top == eos) & (col < eos), NEG_INF, x)
    return mx.where((top != eos) & (col == eos), NEG_INF, x)


class EosDelay:
    """Once channel 0 ends (its top logit is EOS, or the length limit is reached), channel c is forced to EOS
    delay[c] steps later (transformers' DiaEOSDelayPatternLogitsProcessor)."""

    def __init__(self, delays: list[int], eos: int, max_length: int):
        self.remaining = np.asarray(delays, dtype=np.int64)
        self.eos, self.active = eos, False
        self.limit = max_length - max(delays) - 1

    def __call__(self, x: mx.array, length: int) -> mx.array:
        self.active |= bool(int(mx.argmax(x[0])) == self.eos) or length == self.limit
        if self.active:
            forced = mx.array(self.remaining == 0)[:, None]
            x = mx.where(forced, mx.where(mx.arange(x.shape[-1]) == self.eos, 0.0, NEG_INF)[None, :], x)
            self.remaining = self.remaining - 1
        return x


def check_sampling(config: SamplingConfig) -> SamplingConfig:
    """Dia takes temperature (below 1 counts as 1, as in transformers; 0 is greedy), top-k, top-p, min-p and the
    guidance scale; repetition penalty is refused."""
    if config.repetition_penalty != 1.0:
        raise ValueError("Dia takes no repetition penalty (its channels share one history); leave it at 1")
    if config.cfg_scale < 1.0:
        raise ValueError(f"cfg_scale must be >= 1 (1 = no guidance), got {config.cfg_scale}")
    return config


def process(logits: mx.array, config: SamplingConfig, eos: int, eos_delay: EosDelay, length: int,
            trace: list | None = None) -> mx.array:
    """Logits (1 or 2 [cond, uncond], channels, vocab) -> processed (channels, vocab), transformers' order."""
    def stage(name: str, x: mx.array) -> mx.array:
        if trace is not None:
            trace.append((name, x))
        return x

    x = stage("raw", logits[0])
    if config.cfg_scale != 1.0:
        stage("uncond", logits[1])
        x = stage("cfg", guide(x, logits[1], config.cfg_scale, config.top_k or None))
    if not config.greedy and config.temperature > 1.0:
        x = stage("temperature", P.temperature(x, config.temperature))
    x = stage("eos_filter", eos_channel_filter(x, eos))
    if not config.greedy:
        if config.top_k > 0:
            x = stage("top_k", P.top_k(x, config.top_k))
        if config.top_p < 1.0:
            x = stage("top_p", P.top_p(x, config.top_p))
        if config.min_p > 0:
            x = stage("min_p", P.min_p(x, config.min_p))
    return stage("eos_delay", eos_delay(x, length))


def pick(x: mx.array, config: SamplingConfig, draws: Draws | None) -> np.ndarray:
    """Processed logits (channels, vocab) -> one id per channel."""
    if config.greedy:
        return np.array(mx.argmax(x, axis=-1)).astype(np.int64)
    if draws is None:
        raise ValueError("sampling (temperature > 0) needs a source of draws, e.g. SeededDraws(seed)")
    probs = np.array(mx.softmax(x.astype(mx.float32), axis=-1))
    return pick_inverse_cdf(probs, draws.next(probs.shape[0]))


def stream_frames(model: Dia, ids: list[int], config: SamplingConfig, draws: Draws | None = None,
                  max_new_frames: int = 100, prompt: np.ndarray | None = None, trace: bool = False
                  ) -> Iterator[tuple[np.ndarray, Step]]:
    """Yield (the delayed sequence so far (T, channels), the step) after each generated frame."""
    cfg = model.config
    check_sampling(config)
    mask = delay.prefill(cfg.delay_pattern, cfg.bos, cfg.pad, prompt)  # (S, C)
    valid = mask.shape[0] - int((mask[:, 0] == cfg.pad).sum())
    seq = mask[:valid].copy()
    guided = config.cfg_scale != 1.0
    text = mx.array([ids, [0] * len(ids)] if guided else [ids], dtype=mx.int32)  # unconditional: all PAD
    keys_values = model.encode_text(text)
    cache = model.make_cache()
    max_length = valid + max_new_frames
    eos_delay = EosDelay(cfg.delay_pattern, cfg.eos, max_length)
    done = np.zeros(cfg.num_channels, dtype=bool)
    frames, offset = seq, 0
    for i in range(max_new_frames):
        t0 = time.perf_counter()
        x = mx.array(np.repeat(frames[None], text.shape[0], axis=0).astype(np.int32))
        logits = model.decode_frames(x, keys_values, offset, cache)[:, -1].astype(mx.float32)  # (B, C, V)
        offset += frames.shape[0]
        stages: list | None = [] if trace else None
        tokens = pick(process(logits, config, cfg.eos, eos_delay, seq.shape[0], stages), config, draws)
        tokens = np.where(done, cfg.pad, tokens)
        seq = np.concatenate([seq, tokens[None]])
        done |= tokens == cfg.eos
        step = Step(i, tokens, time.perf_counter() - t0, [(n, np.array(v)) for n, v in stages] if trace else [])
        yield seq, step
        if done.all():
            return
        t = seq.shape[0] - 1
        frames = (np.where(mask[t] != cfg.pad, mask[t], tokens) if t < mask.shape[0] else tokens)[None]


def generate_sequence(model: Dia, ids: list[int], config: SamplingConfig, draws: Draws | None = None,
                      max_new_frames: int = 100, prompt: np.ndarray | None = None) -> np.ndarray:
    """The whole delayed sequence (T, channels), the prefill's fixed positions written in (transformers'
    `generate` output)."""
    cfg = model.config
    seq = np.zeros((0, cfg.num_channels), np.int64)
    for so_far, _ in stream_frames(model, ids, config, draws, max_new_frames, prompt):
        seq = so_far
    mask = delay.prefill(cfg.delay_pattern, cfg.bos, cfg.pad, prompt)
    n = min(len(seq), len(mask))
    seq = seq.copy()
    seq[:n] = np.where(mask[:n] == cfg.pad, seq[:n], mask[:n])
    return seq


def max_new_frames(model: Dia, max_frames: int) -> int:
    """Decoder steps that leave at most `max_frames` reverted frames: the frames, their EOS, the longest delay."""
    return max_frames + model.config.max_delay + 1


def sampling_for(model: Dia, temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, cfg_scale: float | None = None) -> SamplingConfig:
    """The folder's generation config (nari-labs/Dia-1.6B: temperature 1.8, top-k 45, top-p 0.95, guidance 3),
    overridden where given; temperature 0 (or `do_sample` false) is greedy."""
    g = model.generation
    t = temperature if temperature is not None else (g.temperature if g.do_sample else 0.0)
    return check_sampling(SamplingConfig(temperature=t, top_k=g.top_k if top_k is None else top_k,
                                         top_p=g.top_p if top_p is None else top_p,
                                         cfg_scale=g.guidance_scale if cfg_scale is None else cfg_scale))


def prompt_codes(model: Dia, voice) -> np.ndarray | None:
    """An audio prompt's codes (channels, L): None, codes already, or a clip (path or mono array at the codec's
    rate) encoded by the DAC port."""
    if voice is None:
        return None
    if isinstance(voice, np.ndarray) and voice.ndim == 2:
        if voice.shape[0] != model.config.num_channels:
            raise ValueError(f"prompt codes need {model.config.num_channels} channels, got shape {voice.shape}")
        return voice.astype(np.int64)
    from ....audio import load_audio

    audio = load_audio(voice, model.sample_rate) if not isinstance(voice, np.ndarray) else voice
    return model.codec.encode(np.asarray(audio, np.float32).reshape(-1))


def generate(model: Dia, text: str, voice=None, temperature: float | None = None, top_k: int | None = None,
             top_p: float | None = None, cfg_scale: float | None = None, seed: int | None = 0,
             max_frames: int = 256, draws: Draws | None = None, speed: float = 1.0) -> Iterator[AudioResult]:
    """Speak a dialogue (`[S1] ... [S2] ...`, non-verbal tags such as `(laughs)` inline); yields one result.

    `voice`: an audio prompt to continue (a clip path, audio at the codec's rate, or codes (channels, L)); its
    transcript belongs at the start of `text`. Sampling follows the folder's generation config unless overridden.
    `extras["codes"]` holds the new reverted codes (channels, frames) that `mlx-audio-lab decode` reads.
    """
    if speed != 1.0:
        raise ValueError("Dia has no speed control (speed must be 1.0)")
    if not text.strip():
        raise ValueError("empty text: give a dialogue such as '[S1] Hello. [S2] Hi!'")
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    config = sampling_for(model, temperature, top_k, top_p, cfg_scale)
    draws = None if config.greedy else (draws if draws is not None else SeededDraws(seed or 0))
    prompt = prompt_codes(model, voice)
    ids = tokenizer.encode(text)
    t0 = time.perf_counter()
    seq = generate_sequence(model, ids, config, draws, max_new_frames(model, max_frames), prompt)
    cfg = model.config
    start = 1 + (0 if prompt is None else prompt.shape[1])
    codes = delay.revert(seq, cfg.delay_pattern, cfg.bos, cfg.pad, start=start)
    audio = model.decode(codes) if codes.shape[1] else np.zeros(0, np.float32)
    sr = model.sample_rate
    stats = RunStats(sr, audio_duration=len(audio) / sr, processing_time=time.perf_counter() - t0,
                     peak_memory_mb=mx.get_peak_memory() / 2**20, token_count=int(seq.size))
    yield AudioResult(np.asarray(audio, np.float32), stats, text=text, tokens=ids,
                      extras={"codes": codes, "sequence": seq, "sampling": config})
