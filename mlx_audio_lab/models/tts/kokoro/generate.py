"""`generate(text, voice=...)`: text -> chunks -> audio, one `AudioResult` per chunk (streaming)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import mlx.core as mx
import numpy as np

from ....errors import ArgumentError
from ....results import AudioResult, RunStats, measure
from .frontend import chunks


def generate(model, text: str, voice: str | np.ndarray | None = None, speed: float = 1.0, lang: str = "en-us",
             seed: int = 0) -> Iterator[AudioResult]:
    """Speak `text` with `voice` (a name, a blend "a,b", or a pack array); yields 24 kHz audio per chunk.

    Text longer than the PL-BERT context is cut into chunks of at most `model.context` phonemes; characters
    G2P cannot read are left out, warned about once and listed in `extras["unreadable"]`.
    """
    voices = getattr(model, "voices", None)
    if voice is None:
        names = voices.names if voices is not None else []
        raise ArgumentError(f"pass a voice (--voice NAME); voices: {', '.join(names) or '(none)'}")
    if voices is None and isinstance(voice, str):
        raise ArgumentError("this model has no voice packs; pass a voice pack array")
    pack = voices.pack(voice) if voices is not None else np.asarray(voice, np.float32)  # raises on unknown
    if not (speed > 0 and np.isfinite(speed)):
        raise ArgumentError(f"speed must be a finite number > 0, got {speed}")
    sr = model.config.sample_rate
    parts = chunks(text, model.config.vocab, lang, limit=model.context)
    if parts[0].unreadable:
        warnings.warn(f"G2P cannot read {''.join(parts[0].unreadable)!r}: left out", stacklevel=2)
    elif not any(ch.isalnum() for ch in text):  # emoji and symbols only: espeak-ng says their names
        warnings.warn(f"{text[:40]!r} has no letters or digits: espeak-ng reads its symbols by name "
                      f"({parts[0].phonemes[:40]!r})", stacklevel=2)
    for i, chunk in enumerate(parts):
        if chunk.dropped:
            warnings.warn(f"dropped symbols with no phoneme id: {''.join(sorted(set(chunk.dropped)))!r}",
                          stacklevel=2)
        ref_s = mx.array(pack[min(len(chunk.phonemes) - 1, pack.shape[0] - 1)].reshape(1, -1))
        stats = RunStats(sample_rate=sr, token_count=len(chunk.ids))
        with measure(stats):
            out = model(mx.array([[0, *chunk.ids, 0]]), ref_s, speed=speed, seed=seed + i)
            audio = np.array(out.audio, dtype=np.float32)
        stats.audio_duration = audio.shape[0] / sr
        yield AudioResult(audio, stats, text=chunk.text, tokens=chunk.ids,
                          extras={"phonemes": chunk.phonemes, "durations": np.array(out.durations),
                                  "f0": np.array(out.f0), "n": np.array(out.n), "dropped": chunk.dropped,
                                  "unreadable": chunk.unreadable, "chunk": i, "chunks": len(parts)})
