"""Kaldi's log mel filter bank (as `torchaudio.compliance.kaldi.fbank` computes it with its defaults), CAMPPlus's
front end: 25 ms Povey-windowed frames every 10 ms (snip edges), DC removed, pre-emphasis 0.97, 512-point power
spectrum, 80 triangular bands on Kaldi's mel scale from 20 Hz to Nyquist, natural log floored at float32 eps."""

from __future__ import annotations

import mlx.core as mx
import numpy as np


def kaldi_mel_banks(n_mels: int, n_fft: int, sample_rate: int, low: float = 20.0, high: float = 0.0) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangles equally spaced on mel = 1127 ln(1 + f / 700) (the Nyquist bin is 0)."""
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, np.float64) / 700.0)

    high = sample_rate / 2 + high if high <= 0 else high
    lo, hi = mel(low), mel(high)
    delta = (hi - lo) / (n_mels + 1)
    left = lo + np.arange(n_mels)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    f = mel(np.arange(n_fft // 2) * sample_rate / n_fft)[None]
    banks = np.maximum(0.0, np.minimum((f - left) / (center - left), (right - f) / (right - center)))
    return np.concatenate([banks, np.zeros((n_mels, 1))], axis=1).T.astype(np.float32)


def povey_window(n: int) -> np.ndarray:
    """A symmetric Hann window to the power 0.85."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (n - 1))) ** 0.85


def kaldi_fbank(wav: np.ndarray | mx.array, n_mels: int = 80, sample_rate: int = 16_000) -> mx.array:
    """(L,) audio -> log mel energies (1 + (L - 400) // 160, 80)."""
    length, shift, n_fft = sample_rate * 25 // 1000, sample_rate * 10 // 1000, 512
    x = np.asarray(wav, np.float32)
    n = 1 + (len(x) - length) // shift
    frames = mx.array(np.lib.stride_tricks.as_strided(x, (n, length), (x.strides[0] * shift, x.strides[0])))
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames - 0.97 * mx.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames * mx.array(povey_window(length).astype(np.float32))
    spec = mx.fft.rfft(mx.pad(frames, [(0, 0), (0, n_fft - length)]), axis=-1)
    power = spec.real**2 + spec.imag**2
    mel = power @ mx.array(kaldi_mel_banks(n_mels, n_fft, sample_rate))
    return mx.log(mx.maximum(mel, np.finfo(np.float32).eps))
