"""CSM inference: the prompt (context turns + the turn to speak), then one Mimi frame per step.

Each frame: the backbone's last state -> codebook 0 (`lm_head`); the depth decoder, on [state, code 0] with a
fresh KV cache, -> codebooks 1..N-1 one at a time; the frame's summed code embeddings -> the next backbone step
(KV-cached). Generation stops after `max_frames` or at a frame whose codebooks 0..N-2 are all the EOS code, as
transformers' `CsmForConditionalGeneration.generate` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....generation import Draws, SamplingConfig, SeededDraws, Step, sample
from ....results import AudioResult, RunStats

if TYPE_CHECKING:
    from .model import Csm

# picker(logits (B, V) float32, stage) -> ids (B,); stage is "backbone" or "depth".
Picker = Callable[[mx.array, str], mx.array]

# sesame/csm-1b's generation_config.json: both transformers sample at temperature 0.9 from the top 50.
DEFAULT_SAMPLING = SamplingConfig(temperature=0.9, top_k=50)


def greedy(logits: mx.array, stage: str) -> mx.array:
    """The most likely id (temperature 0, for both the backbone and the depth decoder)."""
    return mx.argmax(logits, axis=-1)


def sampler(backbone: SamplingConfig, depth: SamplingConfig | None = None, draws: Draws | None = None) -> Picker:
    """A picker sampling codebook 0 with `backbone` and codebooks 1..N-1 with `depth` (default: the same), both
    from one source of draws in the reference's order (backbone, then the depth decoder's N-1 steps)."""
    depth = backbone if depth is None else depth

    def pick(logits: mx.array, stage: str) -> mx.array:
        return mx.array(sample(logits, backbone if stage == "backbone" else depth, draws))

    return pick


def tracing_sampler(backbone: SamplingConfig, depth: SamplingConfig | None = None, draws: Draws | None = None
                    ) -> tuple[Picker, list[Step]]:
    """A picker like `sampler` (greedy where a config is) that also keeps a traced `generation.Step` per pick,
    with the logits after each processor: codebook 0 then 1..N-1 of each frame, frame after frame."""
    depth = backbone if depth is None else depth
    steps: list[Step] = []

    def pick(logits: mx.array, stage: str) -> mx.array:
        stages: list = []
        t0 = time.perf_counter()
        tokens = sample(logits, backbone if stage == "backbone" else depth, draws, trace=stages)
        steps.append(Step(len(steps), tokens, time.perf_counter() - t0, [(n, np.array(v)) for n, v in stages]))
        return mx.array(tokens)

    return pick, steps


def traced_steps(model: Csm, text: str, voice: int | str | None = None, seed: int = 0, max_frames: int = 16,
                 temperature: float | None = None, top_k: int | None = None, top_p: float | None = None) -> list[Step]:
    """One run's picks as traced `generation.Step`s (logits after each processor), in order: codebook 0 by the
    backbone, then codebooks 1..N-1 by the depth decoder, frame after frame (pick i: codebook i % N, frame i // N);
    what `inspect.generation.sampling_trace` turns into the SamplingInspector's data."""
    backbone, depth = sampling_for(model, temperature, top_k, top_p)
    pick, steps = tracing_sampler(backbone, depth, SeededDraws(seed))
    prompt, _ = prompt_for(model, text, int(voice or 0))
    generate_codes(model, prompt, None, max_frames, pick)
    return steps


def sampling_for(model: Csm, temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None) -> tuple[SamplingConfig, SamplingConfig]:
    """(backbone, depth decoder) settings: the folder's generation config, overridden for both by the arguments."""
    def one(base: SamplingConfig) -> SamplingConfig:
        return SamplingConfig(temperature=base.temperature if temperature is None else temperature,
                              top_k=base.top_k if top_k is None else top_k,
                              top_p=base.top_p if top_p is None else top_p)

    backbone, depth = getattr(model, "sampling", None) or (DEFAULT_SAMPLING, DEFAULT_SAMPLING)
    return one(backbone), one(depth)


@dataclass
class Segment:
    """One context turn: a speaker id, what was said, and its audio at the codec's rate (24 kHz)."""

    speaker: int
    text: str
    audio: np.ndarray


def clip_turn(model: Csm, clip: str | Path, text: str | None, speaker: int = 0) -> Segment:
    """A context turn from an audio file and what it says (read at the codec's rate)."""
    from ....audio import load_audio
    from ....errors import ArgumentError

    if not text or not text.strip():
        raise ArgumentError(f"--voice {clip}: CSM continues a spoken turn and needs its words: pass --voice-text "
                            "'what the clip says'")
    return Segment(speaker, text.strip(), load_audio(clip, model.sample_rate))


def prompt_for(model: Csm, text: str, speaker: int = 0, context: list[Segment] | None = None
               ) -> tuple[list[int], np.ndarray | None]:
    """(prompt ids, context frames (F, codebooks) or None): each context turn with its encoded audio, then
    `[speaker]text` to speak (the chat template's last turn, without audio)."""
    if model.tokenizer is None:
        raise ValueError(f"{getattr(model, 'source', 'model')}: no tokenizer.json beside the weights")
    ids: list[int] = []
    frames = []
    for seg in context or []:
        codes = model.codec_model.encode(np.asarray(seg.audio, np.float32))  # (codebooks, F)
        frames.append(codes.T)
        ids += model.tokenizer.turn(seg.speaker, seg.text, codes.shape[1])
    ids += model.tokenizer.turn(speaker, text)
    return ids, (np.concatenate(frames) if frames else None)


def frame_codes(model: Csm, hidden: mx.array, logits: mx.array, pick: Picker) -> mx.array:
    """One frame from the backbone's last state (B, width) and its codebook-0 logits (B, V) -> codes (B, N)."""
    n = model.config.num_codebooks
    code = pick(logits.astype(mx.float32), "backbone")
    codes = [code]
    cache = model.depth_decoder.model.make_cache()
    depth_logits = model.depth(model.depth_inputs(hidden, code[:, None]), first=0, cache=cache)
    for k in range(1, n):
        code = pick(depth_logits[:, -1].astype(mx.float32), "depth")
        codes.append(code)
        if k < n - 1:
            depth_logits = model.depth(model.embed_code(code, k), first=k + 1, cache=cache)
    return mx.stack(codes, axis=-1).astype(mx.int32)


def generate_frames(model: Csm, prompt: list[int], context: np.ndarray | None = None, max_frames: int = 125,
                    pick: Picker = greedy) -> Iterator[np.ndarray]:
    """Yield the codes (N,) of each frame (batch 1), KV-cached, until `max_frames` or the EOS frame (yielded)."""
    cache = model.make_cache()
    ctx = mx.array(context.astype(np.int32)) if context is not None else None
    hidden, logits = model.backbone(model.embed_prompt(mx.array([prompt]), ctx), cache)
    eos = model.config.codebook_eos_token_id
    for i in range(max_frames):
        codes = frame_codes(model, hidden[:, -1], logits[:, -1], pick)  # (1, N)
        frame = np.array(codes[0])
        yield frame
        if (frame[:-1] == eos).all() or i == max_frames - 1:
            return
        hidden, logits = model.backbone(model.embed_frames(codes[:, None]), cache)


def generate_codes(model: Csm, prompt: list[int], context: np.ndarray | None = None, max_frames: int = 125,
                   pick: Picker = greedy) -> np.ndarray:
    """All frames' codes as (codebooks, frames) int64, the layout `mlx-audio-lab decode` reads."""
    frames = list(generate_frames(model, prompt, context, max_frames, pick))
    return np.stack(frames, axis=1).astype(np.int64)


def audio_frames(codes: np.ndarray, eos: int) -> np.ndarray:
    """Codes (codebooks, frames) up to (not including) the first frame that is EOS in every codebook."""
    done = np.flatnonzero((codes == eos).all(axis=0))
    return codes[:, : done[0]] if done.size else codes


def generate(model: Csm, text: str, voice: int | str | list[Segment] | None = None, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = 0, max_frames: int = 125,
             chunk_frames: int = 25, draws: Draws | None = None, speed: float = 1.0,
             prompt_text: str | None = None) -> Iterator[AudioResult]:
    """Speak `text`; yields 24 kHz audio every `chunk_frames` frames (Mimi's streaming decoder).

    `voice`: None (speaker 0, no context), a speaker id (0, "1"), context turns (`Segment`s, oldest first)
    whose last speaker then says `text`, or an audio file whose words are `prompt_text` (one context turn of
    speaker 0, whose voice then continues). Sampling follows the folder's generation config (sesame/csm-1b:
    temperature 0.9, top-k 50) unless overridden; `temperature=0` makes the backbone and the depth decoder
    greedy. `seed` seeds the draws. Each result's `extras["codes"]` holds its frames (codebooks, n).
    """
    if speed != 1.0:
        raise ValueError("CSM has no speed control (speed must be 1.0)")
    backbone, depth = sampling_for(model, temperature, top_k, top_p)
    if backbone.greedy and depth.greedy:
        pick = greedy
    else:
        pick = sampler(backbone, depth, draws if draws is not None else SeededDraws(seed or 0))
    if isinstance(voice, (str, Path)) and not str(voice).isdigit() and Path(voice).suffix:
        voice = [clip_turn(model, voice, prompt_text)]
    elif prompt_text is not None:
        raise ValueError("prompt_text is what a voice clip says: give the clip as voice too")
    if voice is None or isinstance(voice, (int, str)):
        if isinstance(voice, str) and not voice.isdigit():
            raise ValueError(f"voice must be a speaker id such as 0 or 1, or context segments; got {voice!r}")
        speaker, context = int(voice or 0), []
    else:
        context = list(voice)
        speaker = context[-1].speaker if context else 0
    prompt, ctx = prompt_for(model, text, speaker, context)
    stream = model.codec_model.decode_stream()
    sr, eos = model.sample_rate, model.config.codebook_eos_token_id
    pending: list[np.ndarray] = []
    t0, index = time.perf_counter(), 0

    def flush(done: bool) -> AudioResult:
        nonlocal t0, index
        codes = np.stack(pending, axis=1).astype(np.int64)
        audio = stream.step(audio_frames(codes, eos)) if audio_frames(codes, eos).shape[1] else np.zeros(0, np.float32)
        stats = RunStats(sr, audio_duration=len(audio) / sr, processing_time=time.perf_counter() - t0,
                         peak_memory_mb=mx.get_peak_memory() / 2**20, token_count=codes.size)
        result = AudioResult(np.asarray(audio, np.float32), stats, text=text, tokens=prompt if index == 0 else [],
                             extras={"codes": codes, "chunk": index, "final": done})
        pending.clear()
        t0, index = time.perf_counter(), index + 1
        return result

    for frame in generate_frames(model, prompt, ctx, max_frames, pick):
        pending.append(frame)
        if (frame == eos).all():
            break
        if len(pending) == chunk_frames:
            yield flush(False)
    if pending:
        yield flush(True)
