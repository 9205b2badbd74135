"""s2mel's mel front end (`s2mel/modules/audio.py` `mel_spectrogram`, as infer_v2 calls it): the prompt clip at
22.05 kHz -> log-mel (B, frames, 80), the same features BigVGAN v2 22 kHz 80 band decodes."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .....dsp import hifigan_log_mel
from .config import MelConfig


def prompt_mel(audio: np.ndarray | mx.array, c: MelConfig) -> mx.array:
    """(L,) or (B, L) audio at `c.sr` -> (B, L // hop, n_mels)."""
    return hifigan_log_mel(audio, c.sr, c.n_fft, c.hop_length, c.n_mels, c.win_length, c.fmin, c.fmax)
