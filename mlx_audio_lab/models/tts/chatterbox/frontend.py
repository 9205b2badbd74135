"""S3Gen's mel front end (Matcha-TTS's): 24 kHz audio -> log-mel (T / 480, 80), the reference clip's prompt."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ....dsp import mel_filters, stft


def s3gen_mel(audio: np.ndarray | mx.array, n_fft: int = 1920, hop: int = 480, n_mels: int = 80,
              sample_rate: int = 24_000, f_max: float = 8000.0) -> mx.array:
    """(L,) or (B, L) audio -> (B, frames, 80): reflect-padded (n_fft - hop) / 2 each side, uncentred STFT,
    sqrt(|X|^2 + 1e-9), librosa's (Slaney) mel filters, log(max(., 1e-5))."""
    x = mx.array(audio, dtype=mx.float32)
    x = x[None] if x.ndim == 1 else x
    pad = (n_fft - hop) // 2
    x = mx.pad(x, [(0, 0), (pad, pad)], mode="reflect")
    spec = stft(x, n_fft, hop, n_fft, window="hann", center=False)  # (B, frames, bins)
    mag = mx.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    mel = mag @ mel_filters(sample_rate, n_fft, n_mels, 0.0, f_max, "slaney", "slaney")
    return mx.log(mx.maximum(mel, 1e-5))
