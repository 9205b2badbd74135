"""`librosa.filters.mel` for the GPU machine's shim: Slaney (or HTK) mel triangles over rfft bins."""

from __future__ import annotations

import numpy as np

from mlx_audio_lab.dsp import hz_to_mel, mel_to_hz


def mel(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
        htk: bool = False, norm: str | None = "slaney", dtype=np.float32) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) filters, librosa's signature and defaults."""
    scale = "htk" if htk else "slaney"
    fmax = sr / 2.0 if fmax is None else fmax
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2), scale)
    width = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    w = np.maximum(0.0, np.minimum(-ramps[:-2] / width[:-1, None], ramps[2:] / width[1:, None]))
    if norm == "slaney":
        w *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        raise NotImplementedError(f"norm={norm!r} is not in the shim")
    return w.astype(dtype)


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
