"""Bark inference, stage by stage, as transformers' BarkModel.generate runs it (the original suno code differs in
places: see `SUNO_DIFFERENCES`).

1. semantic: text ids (+ offset, padded to 256) and the preset's last 256 semantic tokens are *summed* as one
   embedding per position, then the infer token; sampled up to EOS (= semantic pad) among the 10,000 semantic ids,
   EOS forced once its probability passes `min_eos_p`.
2. coarse: windows of `sliding_window_len` steps over [256 semantic ids around the current time, infer token,
   the last `max_coarse_history` coarse ids]; steps alternate codebook 0 / codebook 1 (ids offset by the
   semantic vocabulary, + codebook_size for codebook 1); the preset's coarse codes go first, less their last 2.
3. fine: the preset's last 512 frames of 8 codebooks, then the coarse frames with codebooks 2..7 set to the pad
   code; the non-causal model fills codebook k = 2..7 one pass each over windows of 1024 frames (argmax when
   the temperature is None or 1, as transformers does; else softmax(logits / T) sampled per frame).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ....generation import Draws, SamplingConfig, SeededDraws, stream
from ....results import AudioResult, RunStats
from .config import GenerationConfig
from .presets import VoicePreset, load_preset

SUNO_DIFFERENCES = (
    "semantic: the original stops *before* EOS once p(EOS) >= min_eos_p, measured after temperature (and top-k / "
    "top-p); transformers forces EOS when p(EOS) > min_eos_p before temperature and keeps it as a pad token",
    "semantic / coarse sampling: the original applies top-p, then top-k, then temperature; transformers applies "
    "temperature first, then top-k, then top-p (the same tokens unless top-p or top-k is set with T != 1)",
    "fine: the original samples at any temperature given (None = argmax); transformers takes the argmax at "
    "temperature 1.0 as well",
    "text: the original collapses runs of whitespace before tokenizing; BarkProcessor does not (BERT's "
    "pre-tokenizer splits on whitespace, so the ids agree)",
    "coarse, odd steps (codebook 1): transformers' AlternatingCodebooksLogitsProcessor keeps every id from "
    "codebook 1's first id to the end of the vocabulary, so the pad, infer and unused ids 12,048-12,095 share the "
    "probability (and can be drawn; the fine stage folds them back modulo 1024); the original normalizes over "
    "codebook 1's 1024 ids only, so the same draw can pick another code",
    "coarse history: both flatten the preset's 2 codebooks frame by frame (offsets 0 / 1024, + 10,000), keep "
    "the last round(n * ratio) ids of an even number n of semantic tokens, and drop the last 2 ids",
)

# decode(window ids (T,), new tokens) -> the window's new tokens; teacher forcing swaps in its own.
Decode = Callable[[np.ndarray, int], np.ndarray]
# predict(codebook, buffer (1024, 8), first row to fill) -> codes (rows - first,) for that codebook.
Predict = Callable[[int, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class BarkSampling:
    """Sampling of the three stages: semantic and coarse through `generation.sample`, fine by temperature only."""

    semantic: SamplingConfig
    coarse: SamplingConfig
    fine_temperature: float | None = None  # None or 1.0: argmax (transformers' rule)

    @classmethod
    def from_generation(cls, g: GenerationConfig, temperature: float | None = None, top_k: int | None = None,
                        top_p: float | None = None) -> BarkSampling:
        """The folder's settings, overridden for every stage by the arguments (temperature 0: all greedy)."""
        def one(t: float) -> SamplingConfig:
            t = t if temperature is None else temperature
            return SamplingConfig(temperature=t, top_k=top_k or 0, top_p=1.0 if top_p is None else top_p)

        fine = g.fine_temperature if temperature is None else (None if temperature == 0 else temperature)
        return cls(one(g.semantic_temperature), one(g.coarse_temperature), fine)


GREEDY = BarkSampling(SamplingConfig(temperature=0.0), SamplingConfig(temperature=0.0), None)


# ---- 1. semantic ---------------------------------------------------------------------------------------------

def text_ids(model, text: str) -> np.ndarray:
    """Text -> (256,) ids + text_encoding_offset, padded with text_pad_token (BarkProcessor, then the semantic
    model's masking of the pad positions)."""
    g = model.generation
    ids = np.asarray(model.tokenizer.encode(text), np.int64)[: g.max_input_semantic_length] + g.text_encoding_offset
    out = np.full(g.max_input_semantic_length, g.text_pad_token, np.int64)
    out[: len(ids)] = ids
    return out


def semantic_history(g: GenerationConfig, preset: VoicePreset | None) -> np.ndarray:
    """(256,) the preset's last 256 semantic tokens, right-padded with the semantic pad (all pad without one)."""
    out = np.full(g.max_input_semantic_length, g.semantic_vocab_size, np.int64)
    if preset is not None:
        h = preset.semantic[-g.max_input_semantic_length:]
        out[: len(h)] = h
    return out


def semantic_prompt(model, text: str, preset: VoicePreset | None) -> mx.array:
    """(1, 257, width): embed(text ids) + embed(history) per position, then embed(infer token)."""
    g, embed = model.generation, model.semantic.input_embeds_layer
    text_part = embed(mx.array(text_ids(model, text)[None].astype(np.int32)))
    history = embed(mx.array(semantic_history(g, preset)[None].astype(np.int32)))
    infer = embed(mx.array([[g.semantic_infer_token]], dtype=mx.int32))
    return mx.concatenate([text_part + history, infer], axis=1)


def semantic_forward(model, prompt: mx.array) -> Callable[[mx.array], mx.array]:
    """A stateful forward: its first call runs the prompt embeddings (ignoring the ids it gets), later ones
    one token each through the KV cache -> raw logits (B, V)."""
    cache = model.semantic.make_cache()
    state = {"first": True}

    def forward(tokens: mx.array) -> mx.array:
        if state["first"]:
            state["first"] = False
            return model.semantic(embeds=prompt, cache=cache)[:, -1, :]
        return model.semantic(tokens, cache=cache)[:, -1, :]

    return forward


def semantic_mask(g: GenerationConfig, logits: mx.array) -> mx.array:
    """Only the semantic ids and EOS survive; EOS alone once p(EOS) > min_eos_p (transformers' Suppress and
    BarkEosPrioritizer processors, in that order)."""
    eos = g.semantic_vocab_size
    ids = mx.arange(logits.shape[-1])
    x = mx.where(ids <= eos, logits, -mx.inf)
    if g.min_eos_p:
        p_eos = mx.softmax(x.astype(mx.float32), axis=-1)[:, eos:eos + 1]
        x = mx.where((p_eos > g.min_eos_p) & (ids != eos), -mx.inf, x)
    return x


def semantic_tokens(model, text: str, preset: VoicePreset | None, config: SamplingConfig, draws: Draws | None,
                    max_new_tokens: int) -> np.ndarray:
    """Semantic tokens (T,), EOS included when it came (transformers keeps it)."""
    g = model.generation
    raw = semantic_forward(model, semantic_prompt(model, text, preset))
    prompt = np.zeros((1, g.max_input_semantic_length + 1), np.int64)  # stand-ins: the forward uses embeddings
    steps = stream(lambda t: semantic_mask(g, raw(t)), prompt, config, draws, max_steps=max_new_tokens,
                   stop_tokens=(g.semantic_vocab_size,))
    return np.array([s.token for s in steps], np.int64)


# ---- 2. coarse -----------------------------------------------------------------------------------------------

def coarse_histories(g: GenerationConfig, preset: VoicePreset | None) -> tuple[np.ndarray, np.ndarray]:
    """(semantic history, flattened coarse history) trimmed to agree in time, as BarkCoarseModel does."""
    if preset is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ratio = g.semantic_to_coarse_ratio
    coarse = preset.coarse + (np.arange(preset.coarse.shape[0]) * g.codebook_size)[:, None]
    flat = coarse.T.reshape(-1) + g.semantic_vocab_size  # frame by frame: c0 c1 c0 c1 ...
    sem = preset.semantic
    n_sem = min(int(np.floor(g.max_coarse_history / ratio)), len(sem) - len(sem) % 2, int(np.floor(len(flat) / ratio)))
    n_coarse = int(round(n_sem * ratio))
    return sem[-n_sem:], flat[-n_coarse:][:-2]  # the last 2: "a hack for time alignment" (both codes)


def coarse_length(g: GenerationConfig, semantic: np.ndarray) -> int:
    """Coarse ids to generate: the semantic tokens before padding, at 75 Hz, 2 per frame."""
    n = int((semantic != g.coarse_semantic_pad_token).sum())
    return int(round(math.floor(n * g.semantic_to_coarse_ratio / g.n_coarse_codebooks) * g.n_coarse_codebooks))


def coarse_windows(g: GenerationConfig, semantic: np.ndarray, preset: VoicePreset | None, decode: Decode
                   ) -> np.ndarray:
    """Coarse ids (2T,) in the coarse vocabulary, window by window; `decode` generates each window's ids."""
    semantic = np.where(semantic == g.semantic_vocab_size, g.coarse_semantic_pad_token, semantic)
    total_len = coarse_length(g, semantic)
    sem_hist, coarse = coarse_histories(g, preset)
    ratio = g.semantic_to_coarse_ratio
    max_sem_hist = int(np.floor(g.max_coarse_history / ratio))
    base, n_hist = len(sem_hist), len(coarse)
    sem = np.concatenate([sem_hist, semantic])
    done = 0
    for _ in range(int(np.ceil(total_len / g.sliding_window_len))):
        idx = base + int(round(done / ratio))
        window = sem[max(0, idx - max_sem_hist):][: g.max_coarse_input_length]
        window = np.pad(window, (0, g.max_coarse_input_length - len(window)),
                        constant_values=g.coarse_semantic_pad_token)
        window = np.concatenate([window, [g.coarse_infer_token], coarse[-g.max_coarse_history:]]).astype(np.int64)
        new = decode(window, min(g.sliding_window_len, total_len - done))
        coarse = np.concatenate([coarse, new])
        done = len(coarse) - n_hist
    return coarse[n_hist:]


def alternating_mask(g: GenerationConfig, step: int, logits: mx.array, suno_range: bool = False) -> mx.array:
    """Even steps: only codebook 0's ids; odd steps: everything from codebook 1's first id up (transformers'
    AlternatingCodebooksLogitsProcessor), or only codebook 1's 1024 ids (`suno_range`, the original code's)."""
    ids = mx.arange(logits.shape[-1])
    lo = g.semantic_vocab_size + (step % 2) * g.codebook_size
    keep = (ids >= lo) & (ids < lo + g.codebook_size) if step % 2 == 0 or suno_range else ids >= lo
    return mx.where(keep, logits, -mx.inf)


def coarse_forward(model) -> Callable[[mx.array], mx.array]:
    """A stateful forward of the coarse GPT (fresh KV cache): ids (B, T) -> raw last logits (B, V)."""
    cache = model.coarse_acoustics.make_cache()
    return lambda tokens: model.coarse_acoustics(tokens, cache=cache)[:, -1, :]


def coarse_decoder(model, config: SamplingConfig, draws: Draws | None, suno_range: bool = False) -> Decode:
    """Generate a window's ids with alternating codebook masks (fresh cache per window, as each window is a new
    `generate` call upstream); `suno_range`: codebook 1 drawn among its own 1024 ids, as the original code does."""
    g = model.generation

    def decode(window: np.ndarray, n_new: int) -> np.ndarray:
        raw, step = coarse_forward(model), [0]

        def masked(tokens: mx.array) -> mx.array:
            out = alternating_mask(g, step[0], raw(tokens), suno_range)
            step[0] += 1
            return out

        return np.array([s.token for s in stream(masked, window, config, draws, max_steps=n_new)], np.int64)

    return decode


# ---- 3. fine -------------------------------------------------------------------------------------------------

def fine_predictor(model, temperature: float | None, draws: Draws | None, greedy_at_one: bool = True) -> Predict:
    """Codes of one codebook pass: argmax (temperature None, or 1.0 under transformers' rule) or a draw per frame
    from softmax(logits / T); `greedy_at_one=False` follows the original suno code, which samples at 1.0."""
    cb = model.generation.codebook_size

    def predict(codebook: int, buffer: np.ndarray, first: int) -> np.ndarray:
        logits = model.fine_acoustics(codebook, mx.array(buffer[None].astype(np.int32)))[0, :, :cb]  # (T, cb)
        if temperature is None or (temperature == 1.0 and greedy_at_one):
            return np.array(mx.argmax(logits[first:], axis=-1)).astype(np.int64)
        if draws is None:
            raise ValueError("sampling the fine stage (temperature not 0 / 1) needs a source of draws")
        from ....generation import pick_inverse_cdf

        probs = np.array(mx.softmax((logits / temperature).astype(mx.float32), axis=-1))[first:]
        return pick_inverse_cdf(probs, draws.next(probs.shape[0]))

    return predict


def fine_codes(g: GenerationConfig, coarse: np.ndarray, preset: VoicePreset | None, predict: Predict) -> np.ndarray:
    """Fine codes (8, T) from coarse ids (2T,): codebooks 2..7 filled pass by pass over 1024-frame windows."""
    cb, n_coarse, n_fine = g.codebook_size, g.n_coarse_codebooks, g.n_fine_codebooks
    frames = np.remainder(coarse.reshape(-1, n_coarse) - g.semantic_vocab_size, cb)  # (T, 2)
    x = np.concatenate([frames, np.full((len(frames), n_fine - n_coarse), cb, np.int64)], axis=1)  # (T, 8)
    n_history = 0
    if preset is not None:
        hist = preset.fine.T[-g.max_fine_history_length:]
        x, n_history = np.concatenate([hist, x]), len(hist)
    n_remove = max(0, g.max_fine_input_length - len(x))
    x = np.concatenate([x, np.full((n_remove, n_fine), cb, np.int64)])
    width, step = g.max_fine_input_length, g.max_fine_history_length
    n_loops = max(0, int(np.ceil((len(frames) - (width - n_history)) / step))) + 1
    for outer in range(n_loops):
        start = min(outer * step, len(x) - width)
        fill = min(n_history + outer * step, len(x) - step)
        rel = fill - start
        buffer = x[start:start + width].copy()
        for k in range(n_coarse, n_fine):
            buffer[rel:, k] = predict(k, buffer, rel)
        x[fill:fill + width - rel, n_coarse:] = buffer[rel:, n_coarse:]
    x = x.T[:, n_history:]
    return x[:, : x.shape[1] - n_remove] if n_remove else x


# ---- the three stages, then EnCodec ---------------------------------------------------------------------------

@dataclass
class BarkTokens:
    """Each stage's output: semantic (T_s,), coarse ids (2 T,) in the coarse vocabulary, fine codes (8, T)."""

    semantic: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray

    @property
    def coarse_codes(self) -> np.ndarray:
        """The coarse ids as codes (2, T) in [0, codebook_size)."""
        return np.remainder(self.coarse.reshape(-1, 2).T - 10_000, 1024)


def resolve_voice(voice) -> VoicePreset | None:
    """None, a preset name / `.npz` path, or a `VoicePreset`."""
    if voice is None or isinstance(voice, VoicePreset):
        return voice
    return load_preset(voice)


def generate_tokens(model, text: str, voice=None, sampling: BarkSampling = GREEDY, draws: Draws | None = None,
                    max_semantic_tokens: int | None = None) -> BarkTokens:
    """Text (+ voice preset) -> the three stages' tokens."""
    g, preset = model.generation, resolve_voice(voice)
    n = g.semantic_max_new_tokens if max_semantic_tokens is None else max_semantic_tokens
    semantic = semantic_tokens(model, text, preset, sampling.semantic, draws, n)
    coarse = coarse_windows(g, semantic, preset, coarse_decoder(model, sampling.coarse, draws))
    fine = fine_codes(g, coarse, preset, fine_predictor(model, sampling.fine_temperature, draws))
    return BarkTokens(semantic, coarse, fine)


def semantic_budget(g: GenerationConfig, max_frames: int) -> int:
    """Semantic tokens enough for `max_frames` fine frames (75 Hz frames from ~50 Hz tokens), plus one."""
    return int(math.ceil(max_frames * g.n_coarse_codebooks / g.semantic_to_coarse_ratio)) + 1


def generate(model, text: str, voice=None, temperature: float | None = None, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = 0, max_frames: int | None = None,
             draws: Draws | None = None, speed: float = 1.0) -> Iterator[AudioResult]:
    """Speak `text` with a voice preset (`v2/en_speaker_6`, an `.npz`, or None): one 24 kHz AudioResult whose
    `extras` hold the fine codes (8, frames) under "codes" and every stage's tokens under "tokens".

    Sampling follows the folder's generation config unless overridden (`temperature=0`: every stage greedy);
    `max_frames` bounds the fine codes' frames (and so the semantic tokens generated)."""
    if speed != 1.0:
        raise ValueError("Bark has no speed control (speed must be 1.0)")
    if model.tokenizer is None:
        raise ValueError(f"{getattr(model, 'source', 'model')}: no tokenizer beside the weights")
    t0 = time.perf_counter()
    sampling = BarkSampling.from_generation(model.generation, temperature, top_k, top_p)
    draws = draws if draws is not None else SeededDraws(seed or 0)
    budget = None if max_frames is None else semantic_budget(model.generation, max_frames)
    tokens = generate_tokens(model, text, voice, sampling, draws, budget)
    codes = tokens.fine if max_frames is None else tokens.fine[:, :max_frames]
    if codes.shape[1] == 0:
        return
    if model.codec_model is None:
        raise ValueError(f"{getattr(model, 'source', 'model')}: no EnCodec weights to decode the codes with")
    audio = np.asarray(model.codec_model.decode(codes), np.float32)
    sr = model.sample_rate
    stats = RunStats(sr, audio_duration=len(audio) / sr, processing_time=time.perf_counter() - t0,
                     peak_memory_mb=mx.get_peak_memory() / 2**20, token_count=int(tokens.semantic.size
                                                                                  + tokens.coarse.size + codes.size))
    yield AudioResult(audio, stats, text=text, tokens=list(text_ids(model, text)),
                      extras={"codes": codes, "tokens": tokens, "chunk": 0, "final": True})
