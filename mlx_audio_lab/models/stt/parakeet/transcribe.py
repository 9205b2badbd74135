"""Audio -> Transcript: front end, encoder, greedy CTC / RNN-T / TDT, word and sentence timestamps.

Long audio is cut into overlapping chunks (`chunk_s`, `overlap_s`) whose boundaries fall on encoder
frames; each chunk keeps the tokens that start in its own half of the overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mlx.core as mx
import numpy as np

from ....audio import duration, load_audio
from ....layers.ctc import CTCToken
from ....results import RunStats, Segment, Transcript, measure
from ....taps import tap
from .decoding import Steps, ctc_greedy, transducer_greedy
from .features import log_mel

if TYPE_CHECKING:
    from .model import Parakeet


@dataclass
class Decoded:
    """One pass over one piece of audio: emitted tokens (frame spans), all steps, the encoder output."""

    tokens: list[CTCToken]
    steps: Steps | None = None  # transducers
    path: np.ndarray | None = None  # CTC: best label per frame
    encoded: mx.array | None = None  # (T, ·): CTC logits or projected encoder states
    valid: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


def decode(model: Parakeet, audio: np.ndarray, frame_offset: int = 0) -> Decoded:
    """Greedy decoding of 16 kHz mono audio with the model's own head."""
    feats, n = log_mel(audio, model.config.front_end)
    tap("features", feats[None])
    encoded, lengths = model.encode(feats[None], mx.array([n]))
    encoded = encoded[0]
    valid = int(lengths[0].item())
    blank = model.config.blank
    if model.config.decoder == "ctc":
        path, tokens = ctc_greedy(encoded, valid, blank)
        tokens = [CTCToken(t.id, t.start + frame_offset, t.end + frame_offset) for t in tokens]
        return Decoded(tokens, path=path, encoded=encoded, valid=valid)
    steps = transducer_greedy(model, encoded, valid, offset=frame_offset)
    return Decoded(steps.emitted(blank, model.config.decoder), steps=steps, encoded=encoded, valid=valid)


def chunk_bounds(n_samples: int, chunk: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, end, keep_from, keep_to) sample indices of overlapping chunks covering `n_samples`."""
    if n_samples <= chunk:
        return [(0, n_samples, 0, n_samples)]
    step = chunk - overlap
    starts = list(range(0, max(n_samples - overlap, 1), step))
    out = []
    for k, s in enumerate(starts):
        e = min(s + chunk, n_samples)
        keep_from = 0 if k == 0 else s + overlap // 2
        keep_to = n_samples if k == len(starts) - 1 else e - overlap // 2
        out.append((s, e, keep_from, keep_to))
        if e == n_samples:
            out[-1] = (s, e, keep_from, n_samples)
            break
    return out


def decode_long(model: Parakeet, wave: np.ndarray, chunk_s: float = 120.0, overlap_s: float = 10.0) -> list[CTCToken]:
    """Tokens of audio of any length, chunk by chunk (chunks and overlaps whole encoder frames)."""
    fe = model.config.front_end
    frame = fe.hop_length * model.config.encoder.subsampling_factor  # samples per encoder frame
    chunk = max(1, int(chunk_s * fe.sampling_rate) // frame) * frame
    overlap = min(chunk // 2, int(overlap_s * fe.sampling_rate) // (2 * frame) * 2 * frame)
    tokens: list[CTCToken] = []
    for s, e, keep_from, keep_to in chunk_bounds(len(wave), chunk, overlap):
        d = decode(model, wave[s:e], frame_offset=s // frame)
        tokens += [t for t in d.tokens if keep_from <= t.start * frame < keep_to]
    return tokens


def transcribe(model: Parakeet, audio: Any, sample_rate: int | None = None, timestamps: bool | str = True,
               chunk_s: float = 120.0, overlap_s: float = 10.0, progress: bool = False) -> Transcript:
    """Greedy transcript of a file path or array (array rate `sample_rate`, default 16 kHz).

    `timestamps`: True / "word" -> one segment per word, "segment" -> per sentence, False -> one segment.
    Decoding is greedy and the vocabulary fixes the language: no beam or language option.
    """
    fe = model.config.front_end
    wave = load_audio(audio, fe.sampling_rate, source_rate=sample_rate)
    stats = RunStats(sample_rate=fe.sampling_rate, audio_duration=duration(wave, fe.sampling_rate))
    with measure(stats):
        tokens = decode_long(model, wave, chunk_s, overlap_s)
    ids = [t.id for t in tokens]
    stats.token_count = len(ids)
    tok = model.tokenizer
    if tok is None:
        return Transcript("", [], None, ids, stats)
    text = tok.decode(ids)
    words = tok.words(tokens, model.frame_shift, punctuation_snap=model.config.decoder == "tdt")
    if timestamps is True or timestamps == "word":
        segments = words
    elif timestamps == "segment":
        segments = tok.sentences(words)
    else:
        segments = [Segment(0.0, stats.audio_duration, text, ids)] if text else []
    return Transcript(text, segments, None, ids, stats)
