"""Inputs the ports' parity runs share."""

from __future__ import annotations

import numpy as np


def spoken_or_noise(clip: str, sample_rate: int, seconds: float = 3.0) -> np.ndarray:
    """espeak-ng speaking a `fixtures.speech` clip at `sample_rate`, or, without espeak-ng, `seconds` of seeded
    noise (std 0.1); float32."""
    from ..fixtures import speech

    if speech.espeak_available():
        return speech.speech(clip, sample_rate).astype(np.float32)
    return (np.random.default_rng(0).standard_normal(int(sample_rate * seconds)) * 0.1).astype(np.float32)
