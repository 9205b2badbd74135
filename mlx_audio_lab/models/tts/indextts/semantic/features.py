"""w2v-BERT 2.0's input features, as transformers' `SeamlessM4TFeatureExtractor` makes them: Kaldi log-mel energies
of the 16-bit-scaled clip, each band normalised over the utterance (unbiased variance), padded to a multiple of
`stride` frames with `padding_value` and stacked `stride` frames to a row (80 bands -> 160 values, 20 ms a row)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .....dsp import kaldi_fbank
from .config import FeatureConfig


def normalise_bands(fbank: mx.array, eps: float = 1e-7) -> mx.array:
    """(T, n_mels) -> zero mean, unit (unbiased, ddof 1) variance per band over the utterance."""
    mean = fbank.mean(axis=0, keepdims=True)
    var = ((fbank - mean) ** 2).sum(axis=0, keepdims=True) / (fbank.shape[0] - 1)
    return (fbank - mean) / mx.sqrt(var + eps)


def seamless_features(audio: np.ndarray | mx.array, cfg: FeatureConfig | None = None) -> mx.array:
    """16 kHz mono audio (S,) in [-1, 1] -> input features (1, ceil(T / stride), stride * n_mels),
    T = 1 + (S - 400) // 160 frames."""
    cfg = cfg or FeatureConfig()
    wav = np.asarray(audio, dtype=np.float32).reshape(-1)
    if wav.shape[0] < 400 + 160:
        raise ValueError(f"a clip of {wav.shape[0]} samples is too short for w2v-BERT features (at least 560 at "
                         f"{cfg.sampling_rate} Hz, two 25 ms frames)")
    x = normalise_bands(kaldi_fbank(wav * 32768.0, cfg.num_mel_bins, cfg.sampling_rate))  # (T, n_mels)
    extra = -x.shape[0] % cfg.stride
    if extra:
        x = mx.concatenate([x, mx.full((extra, x.shape[1]), cfg.padding_value, x.dtype)], axis=0)
    return x.reshape(1, x.shape[0] // cfg.stride, cfg.stride * x.shape[1])
