"""The S3 tokenizer's front end: the Whisper-style 128-bin log-mel of 16 kHz audio, as `s3tokenizer` computes it.

`s3tokenizer.log_mel_spectrogram`: a centred (reflect-padded) 400-point periodic-Hann STFT every 160 samples, the
last frame dropped, |X|^2 through librosa's Slaney mel bank (0 - 8 kHz), log10 clamped at 1e-10 and to 8 decades
below the clip's peak, then (x + 4) / 4. No padding to 30 s: one frame per 10 ms of the clip.

Precision: quiet frames hold mel bands ~1e-9 below their frame's peak, under a float32 FFT's resolution. There the
package (torch) and this port (MLX) each land ~2e-5 from a float64 log-mel, and up to 4e-5 from each other on the
wheel's clips; elsewhere they agree to ~1e-6. Such noise can flip an FSQ value sitting on a rounding boundary.
"""

from __future__ import annotations

import mlx.core as mx

from .... import dsp


def log_mel_spectrogram(audio, n_mels: int = 128, n_fft: int = 400, hop_length: int = 160,
                        sample_rate: int = 16_000) -> mx.array:
    """Mono 16 kHz audio (samples,) -> log-mel (frames, n_mels), frames = samples // hop_length."""
    return dsp.log_mel_spectrogram(audio, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length,
                                   sample_rate=sample_rate, pad_to=None)
