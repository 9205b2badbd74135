"""Several clips in one padded batch: one encoder call and one lockstep greedy decoder over every first window.

Clips up to 30 s are zero-padded to one window each (as one by one), so the batch changes no input; rows that
finish early keep receiving end-of-text (transformers' padding). A clip whose first window does not close its
transcript (longer than 30 s, or cut after a timestamp pair) is then transcribed on its own by `transcribe`,
as are all clips when beam search or fallback options are asked for.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from ....audio import load_audio
from ....results import RunStats, Segment, Transcript
from .decoding import LogitRules, _prefill, timestamp_begin
from .transcribe import (
    HOP,
    INPUT_STRIDE,
    N_SAMPLES,
    SAMPLE_RATE,
    TIME_PRECISION,
    WindowSegment,
    features,
    split_segments,
    transcribe,
    window,
    window_words,
)

if TYPE_CHECKING:
    from .model import Whisper


def greedy_batch(model: Whisper, audio: mx.array, prompt: list[int], max_new_tokens: int,
                 timestamps: bool) -> list[list[int]]:
    """Greedy decoding of B windows (B, n_ctx, d) in lockstep -> each row's new tokens up to end-of-text."""
    eot, B = model.config.eos_token_id, audio.shape[0]
    rules = LogitRules.for_model(model, timestamps)
    step, logits = _prefill(model, prompt, audio, B)
    outs: list[list[int]] = [[] for _ in range(B)]
    for _ in range(max_new_tokens):
        scores = rules(logits, outs)
        for row, seq in enumerate(outs):
            seq.append(eot if seq and seq[-1] == eot else int(scores[row].argmax()))
        if all(seq[-1] == eot for seq in outs):
            break
        logits = step([seq[-1] for seq in outs])
    return [seq[: seq.index(eot) + 1] if eot in seq else seq for seq in outs]


def transcribe_batch(model: Whisper, audios: list[np.ndarray | str | Path], *, beam_size: int = 1,
                     timestamps: bool = True, word_timestamps: bool = False, **options) -> list[Transcript]:
    """Transcripts of several clips; greedy short clips share one padded batch, the rest go one by one."""
    tok = model.tokenizer
    if beam_size > 1 or options or tok is None or tok.multilingual:
        return [transcribe(model, a, beam_size=beam_size, timestamps=timestamps, word_timestamps=word_timestamps,
                           **options) for a in audios]
    t0 = time.perf_counter()
    wavs = [load_audio(a, SAMPLE_RATE) for a in audios]
    short = [i for i, w in enumerate(wavs) if len(w) <= N_SAMPLES]
    results: dict[int, Transcript] = {}
    if short:
        mels = [features(wavs[i], model.config.num_mel_bins) for i in short]  # each padded to one window
        stacked = np.concatenate([window(m, 0) for m in mels])
        audio = model.embed_audio(mx.array(stacked))  # (B, n_ctx, d)
        prompt = tok.sot_sequence(None, "transcribe", timestamps)
        room = model.config.max_target_positions - len(prompt)
        outs = greedy_batch(model, audio, prompt, room, timestamps)
        tb, eot = timestamp_begin(model), model.config.eos_token_id
        for row, i in enumerate(short):
            n_frames = len(mels[row])
            ended = bool(outs[row]) and outs[row][-1] == eot
            out = outs[row][:-1] if ended else outs[row]
            if timestamps:
                pieces, advance = split_segments(out, tb, n_frames)
            else:
                pieces, advance = [WindowSegment(0.0, n_frames / INPUT_STRIDE, out)], n_frames
            if advance < n_frames:  # the window asks for another pass: decode this clip on its own
                continue
            words = [[] for _ in pieces]
            if word_timestamps and out:
                words = window_words(model, audio[row : row + 1], prompt, out, ended, pieces, 0.0,
                                     -(-len(wavs[i]) // HOP), "en")
            segments = [Segment(p.start * TIME_PRECISION, p.end * TIME_PRECISION, tok.decode(p.tokens).strip(),
                                p.tokens, w) for p, w in zip(pieces, words)]
            tokens = [t for s in segments for t in s.tokens]
            stats = RunStats(SAMPLE_RATE, len(wavs[i]) / SAMPLE_RATE, token_count=len(tokens))
            results[i] = Transcript(tok.decode(tokens).strip(), segments, "en", tokens, stats)
    batch_time = time.perf_counter() - t0
    for r in results.values():
        r.stats.processing_time = batch_time / len(results)  # the batch's time, shared evenly
    for i, w in enumerate(wavs):
        if i not in results:
            results[i] = transcribe(model, w, beam_size=1, timestamps=timestamps, word_timestamps=word_timestamps)
    return [results[i] for i in range(len(wavs))]

