"""S3Gen's mel front end (Matcha-TTS's): 24 kHz audio -> log-mel (T / 480, 80), the reference clip's prompt."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ....dsp import hifigan_log_mel


def s3gen_mel(audio: np.ndarray | mx.array, n_fft: int = 1920, hop: int = 480, n_mels: int = 80,
              sample_rate: int = 24_000, f_max: float = 8000.0) -> mx.array:
    """(L,) or (B, L) audio -> (B, frames, 80): the HiFi-GAN log-mel (`dsp.hifigan_log_mel`) at S3Gen's settings."""
    return hifigan_log_mel(audio, sample_rate, n_fft, hop, n_mels, f_max=f_max)
