"""The reference clip as Spark-TTS reads it: first channel, soxr "VHQ" resampling to 16 kHz in float64, then
its volume normalization (the top 1-10 % of significant samples scaled to 0.2, peaks kept under 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....audio import AudioError


def volume_normalize(audio: np.ndarray, coeff: float = 0.2) -> np.ndarray:
    """Scale so the mean of the 90th-99th percentile of |x| > 0.01 is `coeff` (factor within 0.1..10)."""
    mags = np.sort(np.abs(audio))
    if mags[-1] < 0.1:  # quiet clips are first brought to a 0.1 peak
        audio = audio / max(mags[-1], 1e-3) * 0.1
    mags = mags[mags > 0.01]
    n = mags.shape[0]
    if n <= 10:
        return audio
    audio = audio * np.clip(coeff / np.mean(mags[int(0.9 * n) : int(0.99 * n)]), 0.1, 10)
    peak = np.max(np.abs(audio))
    return audio / peak if peak > 1 else audio


def load_reference(voice, config) -> np.ndarray:
    """A clip path (any rate) or a 16 kHz array -> float32 (S,) as BiCodecTokenizer.process_audio prepares it."""
    import soundfile as sf
    import soxr

    if isinstance(voice, str | Path):
        path = Path(voice).expanduser()
        if not path.is_file():
            raise AudioError(f"reference clip not found: {path} (pass a WAV/FLAC file of the voice to clone)")
        try:
            audio, rate = sf.read(str(path))
        except Exception as err:  # soundfile raises LibsndfileError / RuntimeError
            raise AudioError(f"cannot read {path} as audio ({type(err).__name__}: {err})") from err
        audio = audio[:, 0] if audio.ndim > 1 else audio
        if rate != config.sample_rate:
            audio = soxr.resample(audio, rate, config.sample_rate, quality="VHQ")
    else:
        audio = np.asarray(voice, dtype=np.float64).reshape(-1)
    if audio.size == 0 or not np.all(np.isfinite(audio)):
        raise AudioError("the reference clip is empty or has NaN / inf samples")
    if config.audio.get("volume_normalize", True):
        audio = volume_normalize(audio)
    return np.asarray(audio, dtype=np.float32)
