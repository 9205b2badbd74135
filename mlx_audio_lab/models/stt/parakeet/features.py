"""Parakeet's front end in MLX: pre-emphasis, |STFT|², Slaney mel, log, per-feature normalization.

Matches transformers' `ParakeetFeatureExtractor` (NeMo's AudioToMelSpectrogramPreprocessor with
`normalize="per_feature"`): Hann window of `win_length` (symmetric) centred in `n_fft`, zero padding,
log(mel + 2^-24), mean / unbiased std over the valid frames (len // hop), padded frames zeroed.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ....dsp import get_window, mel_filters, power_spectrogram, stft
from .config import FrontEndConfig

LOG_GUARD = 2.0**-24
EPSILON = 1e-5


def num_valid_frames(n_samples: int, cfg: FrontEndConfig) -> int:
    """Frames that hold audio (the feature extractor's `attention_mask.sum()`)."""
    return (n_samples + cfg.n_fft // 2 * 2 - cfg.n_fft) // cfg.hop_length


def log_mel(audio: np.ndarray | mx.array, cfg: FrontEndConfig) -> tuple[mx.array, int]:
    """Mono audio (T,) -> (normalized log-mel (frames, n_mels), valid frames)."""
    x = mx.array(np.asarray(audio, dtype=np.float32))
    if cfg.preemphasis:
        x = mx.concatenate([x[:1], x[1:] - cfg.preemphasis * x[:-1]])
    window = get_window("hann", cfg.win_length, periodic=False)
    spec = stft(x, cfg.n_fft, cfg.hop_length, cfg.win_length, window=window, center=True, pad_mode="constant")
    mel = power_spectrogram(spec) @ mel_filters(cfg.sampling_rate, cfg.n_fft, cfg.feature_size, 0.0,
                                                cfg.sampling_rate / 2, "slaney", "slaney")
    feats = mx.log(mel + LOG_GUARD)  # (frames, n_mels)
    n = num_valid_frames(x.shape[0], cfg)
    valid = (mx.arange(feats.shape[0]) < n)[:, None]
    masked = mx.where(valid, feats, 0.0)
    mean = masked.sum(axis=0, keepdims=True) / n
    var = (mx.where(valid, feats - mean, 0.0) ** 2).sum(axis=0, keepdims=True) / (n - 1)
    feats = (feats - mean) / (mx.sqrt(var) + EPSILON)
    return mx.where(valid, feats, 0.0), n
