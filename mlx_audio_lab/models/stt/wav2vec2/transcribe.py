"""Audio -> Transcript with greedy CTC: normalize, one forward pass, best path, words timed by frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mlx.core as mx
import numpy as np

from ....audio import duration, load_audio
from ....layers.ctc import collapse, greedy_path
from ....results import RunStats, Segment, Transcript, measure

if TYPE_CHECKING:
    from .model import Wav2Vec2ForCTC


def normalize(audio: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance, as `Wav2Vec2FeatureExtractor(do_normalize=True)` does."""
    audio = np.asarray(audio, dtype=np.float32)
    return ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)


def emissions(model: Wav2Vec2ForCTC, audio: np.ndarray) -> mx.array:
    """CTC logits (T, vocab) of 16 kHz mono audio (normalized here when the model asks for it)."""
    x = normalize(audio) if model.do_normalize else np.asarray(audio, dtype=np.float32)
    logits = model(mx.array(x)[None])[0]
    mx.eval(logits)
    return logits


def transcribe(model: Wav2Vec2ForCTC, audio: Any, sample_rate: int | None = None, timestamps: bool = True,
               progress: bool = False) -> Transcript:
    """Greedy CTC transcript of a file path or array (array rate `sample_rate`, default 16 kHz).

    One segment per word with `timestamps`, else one for the whole clip. Decoding is greedy and
    the vocabulary fixes the language: there is no beam or language option (the CLI refuses those flags).
    """
    wave = load_audio(audio, model.sample_rate, source_rate=sample_rate)
    stats = RunStats(sample_rate=model.sample_rate, audio_duration=duration(wave, model.sample_rate))
    with measure(stats):
        logits = emissions(model, wave)
        vocab = model.vocab
        blank = vocab.blank if vocab is not None else model.config.pad_token_id
        tokens = collapse(greedy_path(logits.astype(mx.float32)), blank)
    ids = [t.id for t in tokens]
    stats.token_count = len(ids)
    if vocab is None:
        return Transcript("", [], None, ids, stats)
    text = vocab.decode(ids)
    if timestamps:
        segments = vocab.words(tokens, model.frame_shift)
    else:
        segments = [Segment(0.0, stats.audio_duration, text, ids)] if text else []
    return Transcript(text, segments, None, ids, stats)
