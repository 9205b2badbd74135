"""BiCodec's two front ends: a magnitude mel spectrogram of the reference clip (for the speaker encoder) and
the mean of three wav2vec2 hidden states of the whole clip (for the semantic encoder).

The mel is torchaudio's `MelSpectrogram(power=1, norm="slaney", mel_scale="slaney")`: centred STFT with
reflect padding, a periodic Hann window of `win_length` inside `n_fft`, and no logarithm (upstream feeds the
linear magnitude mel to ECAPA-TDNN). Shapes: audio (B, S); mel (B, frames, n_mels); features (B, T, 1024).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .....dsp import mel_filters, stft
from .....taps import tap


def mel_spectrogram(wav: mx.array, params: dict) -> mx.array:
    """(B, S) audio -> (B, S // hop + 1, num_mels) magnitude mel (no log)."""
    spec = stft(wav, params["n_fft"], params["hop_length"], params["win_length"], window="hann", center=True,
                pad_mode="reflect")
    f_max = params.get("mel_fmax") or params["sample_rate"] / 2
    fb = mel_filters(params["sample_rate"], params["n_fft"], params["num_mels"], params["mel_fmin"], f_max,
                     "slaney", "slaney")
    return tap("mel", mx.abs(spec) @ fb)


def zero_mean_unit_var(wav: np.ndarray) -> np.ndarray:
    """Wav2Vec2FeatureExtractor's `do_normalize`: (x - mean) / sqrt(var + 1e-7), per clip."""
    wav = np.asarray(wav, dtype=np.float32)
    return (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)


def wav2vec2_features(model, wav: np.ndarray, layers: tuple[int, ...]) -> mx.array:
    """The mean of wav2vec2 hidden states `layers` (transformers' `hidden_states[i]`: after i blocks) -> (1, T, C).

    `model` is the project's MLX `Wav2Vec2Model` (stt/wav2vec2); blocks after the deepest one asked are skipped.
    """
    x = mx.array(zero_mean_unit_var(wav))[None]
    h = model.feature_projection(model.feature_extractor(x))
    enc = model.encoder
    h = h + enc.pos_conv_embed(h)
    states = [h]
    for layer in enc.layers[: max(layers)]:
        states.append(layer(states[-1]))
    if max(layers) == len(enc.layers) and enc.pre_norm:  # the last hidden state is the normed output
        states[-1] = enc.layer_norm(states[-1])
    return tap("wav2vec2.features", sum(states[i] for i in layers) / len(layers))
