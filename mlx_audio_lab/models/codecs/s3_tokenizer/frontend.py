"""The S3 tokenizer's front end: the Whisper-style 128-bin log-mel of 16 kHz audio, as `s3tokenizer` computes it.

`s3tokenizer.log_mel_spectrogram`: a centred (reflect-padded) 400-point periodic-Hann STFT every 160 samples, the
last frame dropped, |X|^2 through librosa's Slaney mel bank (0 - 8 kHz), log10 clamped at 1e-10 and to 8 decades
below the clip's peak, then (x + 4) / 4. No padding to 30 s: one frame per 10 ms of the clip.
"""

from __future__ import annotations

import mlx.core as mx

from .... import dsp


def log_mel_spectrogram(audio, n_mels: int = 128, n_fft: int = 400, hop_length: int = 160,
                        sample_rate: int = 16_000) -> mx.array:
    """Mono 16 kHz audio (samples,) -> log-mel (frames, n_mels), frames = samples // hop_length."""
    return dsp.log_mel_spectrogram(audio, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length,
                                   sample_rate=sample_rate, pad_to=None)
