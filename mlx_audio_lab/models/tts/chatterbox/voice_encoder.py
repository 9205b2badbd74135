"""The VoiceEncoder (Resemble's GE2E-style speaker encoder): 16 kHz speech -> a unit 256-d speaker vector for T3.

Silence trimmed (20 dB under the loudest 2048-sample frame), 40-band power mel, windows of 160 frames every
77 frames (rate 1.3), a 3-layer LSTM's last state -> Linear -> ReLU -> unit norm per window, mean, unit norm.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....dsp import mel_filters, stft
from ....layers.lstm import LSTM
from ....taps import tap

SAMPLE_RATE, N_FFT, HOP, N_MELS, F_MAX = 16_000, 400, 160, 40, 8000.0
PARTIAL_FRAMES = 160
RATE, MIN_COVERAGE = 1.3, 0.8  # windows per second (the reference's default), share a last window must cover


def trim_silence(wav: np.ndarray, top_db: float = 20.0, frame: int = 2048, hop: int = 512) -> np.ndarray:
    """Cut leading / trailing frames quieter than `top_db` under the loudest (librosa.effects.trim's rule)."""
    padded = np.pad(wav.astype(np.float64), frame // 2)
    n = 1 + (len(padded) - frame) // hop
    frames = np.lib.stride_tricks.as_strided(padded, (n, frame), (padded.strides[0] * hop, padded.strides[0]))
    power = np.mean(np.abs(frames) ** 2, axis=1)
    db = 10 * np.log10(np.maximum(power, 1e-10)) - 10 * np.log10(max(power.max(), 1e-10))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return wav[:0]
    return wav[int(loud[0] * hop): min(len(wav), int((loud[-1] + 1) * hop))]


def voice_mel(wav: np.ndarray | mx.array) -> mx.array:
    """(L,) 16 kHz -> power mel (1 + L // 160, 40): centred reflect-padded STFT, |X|^2, Slaney mel filters."""
    spec = stft(mx.array(wav, dtype=mx.float32), N_FFT, HOP, N_FFT, window="hann")
    power = spec.real**2 + spec.imag**2
    return power @ mel_filters(SAMPLE_RATE, N_FFT, N_MELS, 0.0, F_MAX, "slaney", "slaney")


def partials(mel: mx.array) -> mx.array:
    """(T, 40) -> (N, 160, 40) windows every 77 frames, zero-padded so the last covers >= 80% of a window."""
    step = int(np.round((SAMPLE_RATE / RATE) / PARTIAL_FRAMES))
    n, rest = divmod(max(mel.shape[0] - PARTIAL_FRAMES + step, 0), step)
    if n == 0 or (rest + (PARTIAL_FRAMES - step)) / PARTIAL_FRAMES >= MIN_COVERAGE:
        n += 1
    target = PARTIAL_FRAMES + step * (n - 1)
    mel = mel[:target] if mel.shape[0] >= target else mx.pad(mel, [(0, target - mel.shape[0]), (0, 0)])
    return mx.stack([mel[i * step: i * step + PARTIAL_FRAMES] for i in range(n)])


class VoiceEncoder(nn.Module):
    """LSTM(40 -> 256, 3 layers) + `proj`; names as in `ve.safetensors` (similarity_* are training-only)."""

    def __init__(self, hidden: int = 256, embed: int = 256):
        super().__init__()
        self.lstm = LSTM(N_MELS, hidden, 3)
        self.proj = nn.Linear(hidden, embed)
        self.similarity_weight = mx.array([10.0])
        self.similarity_bias = mx.array([-5.0])

    def __call__(self, windows: mx.array) -> mx.array:
        """(N, 160, 40) mel windows -> unit embeddings (N, 256)."""
        _, state = self.lstm.run(windows)
        e = nn.relu(self.proj(state[-1][0]))
        return e / mx.linalg.norm(e, axis=-1, keepdims=True)

    def embed(self, wav_16k: np.ndarray, trim: bool = True) -> mx.array:
        """A 16 kHz clip -> its speaker vector (1, 256): the unit mean of its windows' embeddings."""
        wav = trim_silence(np.asarray(wav_16k, np.float32)) if trim else np.asarray(wav_16k, np.float32)
        windows = tap("ve.partials", partials(voice_mel(wav)))
        e = tap("ve.windows", self(windows)).mean(axis=0, keepdims=True)
        return tap("ve.embedding", e / mx.linalg.norm(e, axis=-1, keepdims=True))
