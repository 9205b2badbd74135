"""`librosa.filters.mel` for the GPU machine's shim: Slaney (or HTK) mel triangles over rfft bins."""

from __future__ import annotations

import numpy as np

from mlx_audio_lab.dsp import _mel_filters_np


def mel(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
        htk: bool = False, norm: str | None = "slaney", dtype=np.float32) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) filters, librosa's signature and defaults: the project's filter bank transposed."""
    fmax = sr / 2.0 if fmax is None else fmax
    w = _mel_filters_np(int(sr), n_fft, n_mels, float(fmin), float(fmax), "htk" if htk else "slaney", norm)
    return w.T.astype(dtype)


def check() -> float:
    """Largest difference from the real librosa over a few configurations (run where librosa exists)."""
    import librosa  # the real one

    worst = 0.0
    for sr, n_fft, n_mels, fmin, fmax, htk in [(24000, 1024, 100, 0, 12000, False), (22050, 1024, 80, 0, 8000, False),
                                               (22050, 1024, 80, 0, None, False), (16000, 400, 128, 0, None, True)]:
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
        ours = mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
        worst = max(worst, float(np.abs(ours - ref).max()))
    return worst
