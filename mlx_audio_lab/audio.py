"""Audio in and out: read (any soundfile format), downmix, resample (soxr), write, and play in a notebook."""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_file, writable_parent
from .errors import InputError, OutputError

__all__ = ["AudioError", "check_audio_out", "duration", "load_audio", "player", "resample", "save_audio",
           "sinc_resample"]

logger = logging.getLogger(__name__)
# The most samples a byte of a real file holds (FLAC's constant subframes pack ~4096 silent samples in ~10 bytes);
# a header claiming more is corrupt, and is refused before anything is allocated.
MAX_SAMPLES_PER_BYTE = 1024


class AudioError(InputError):
    """Audio that cannot be used: missing, unreadable, empty, or holding NaN / inf samples."""


def resample(audio: np.ndarray, src: int, dst: int, quality: str = "HQ") -> np.ndarray:
    """Resample (T,) or (T, channels) audio from `src` Hz to `dst` Hz with soxr; float32 out."""
    audio = np.asarray(audio, dtype=np.float32)
    if int(src) == int(dst):
        return audio
    if src <= 0 or dst <= 0:
        raise AudioError(f"sample rates must be positive, got {src} Hz -> {dst} Hz")
    import soxr

    return np.asarray(soxr.resample(audio, int(src), int(dst), quality=quality), dtype=np.float32)


def sinc_resample(audio: np.ndarray, src: int, dst: int, lowpass_width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """Resample (T,) audio with a Hann-windowed sinc (the one torchaudio's `Resample` uses by default, for models
    whose reference resamples with it); float32, ceil(T dst / src) samples."""
    audio = np.asarray(audio, dtype=np.float32)
    if int(src) == int(dst):
        return audio
    g = math.gcd(int(src), int(dst))
    up, down = int(dst) // g, int(src) // g  # each block of `down` input samples gives `up` output samples
    cutoff = min(up, down) * rolloff
    width = math.ceil(lowpass_width * down / cutoff)
    offsets = np.arange(-width, width + down, dtype=np.float64) / down  # (K,) taps around a block
    t = (np.arange(0, -up, -1, dtype=np.float32)[:, None] / np.float32(up) + offsets) * cutoff  # (up, K)
    t = np.clip(t, -lowpass_width, lowpass_width)
    window = np.cos(t * math.pi / lowpass_width / 2) ** 2
    t = t * math.pi
    kernel = (np.where(t == 0, 1.0, np.sin(t) / np.where(t == 0, 1.0, t)) * window * cutoff / down).astype(np.float32)
    padded = np.pad(audio, (width, width + down))
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::down]  # (blocks, K)
    out = (frames @ kernel.T).reshape(-1)  # (blocks * up,)
    return np.ascontiguousarray(out[: math.ceil(up * audio.size / down)], dtype=np.float32)


def _read(path: Path) -> tuple[np.ndarray, int]:
    """Read a file with soundfile as float32 (T, channels), with AudioErrors naming the file."""
    import soundfile as sf

    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"audio path is a directory, not a file: {path}")
    try:
        with sf.SoundFile(str(path)) as f:
            size, claimed = path.stat().st_size, f.frames * f.channels
            if claimed > MAX_SAMPLES_PER_BYTE * size + (1 << 20):
                raise AudioError(f"{path}: the header claims {f.frames} frames ({f.frames / f.samplerate:.0f} s) but "
                                 f"the file has only {size} bytes; it is corrupt (re-encode it)")
            # block by block: memory follows the samples really there, not the header's count
            blocks = list(f.blocks(blocksize=1 << 20, dtype="float32", always_2d=True))
            rate, channels = f.samplerate, f.channels
    except AudioError:
        raise
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise AudioError(f"cannot read {path} as audio ({type(err).__name__}: {err})") from err
    data = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
    return data, int(rate)


def load_audio(
    source: str | Path | np.ndarray, sample_rate: int = 16000, *, source_rate: int | None = None
) -> np.ndarray:
    """Mono float32 audio at `sample_rate` from a file (soundfile) or an array at `source_rate`.

    Several channels are averaged and a different rate is resampled with soxr (each with a warning).
    Missing / unreadable / empty files and NaN or inf samples raise `AudioError` naming the source.
    """
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        name = str(path)
        data, rate = _read(path)
        if source_rate is not None and source_rate != rate:
            raise AudioError(f"{name} is {rate} Hz; source_rate={source_rate} applies only to arrays")
    else:
        name = "audio array"
        arr = np.asarray(source)
        if arr.dtype.kind not in "fiu":
            raise AudioError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.dtype.kind in "iu":  # PCM integers -> [-1, 1)
            arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)
        if arr.ndim == 1:
            arr = arr[:, None]
        elif arr.ndim == 2 and arr.shape[0] < arr.shape[1] and arr.shape[0] <= 8:
            arr = arr.T  # (channels, T) -> (T, channels)
        elif arr.ndim != 2:
            raise AudioError(f"{name} must be (T,) or (T, channels), got shape {arr.shape}")
        data, rate = arr.astype(np.float32, copy=False), int(source_rate or sample_rate)

    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(f"{name} is empty (zero-length audio)")
    bad = ~np.isfinite(data)
    if bad.any():
        raise AudioError(f"{name} has {int(bad.sum())} non-finite samples (NaN or inf)")
    if data.shape[1] > 1:
        msg = f"{name}: downmixed {data.shape[1]} channels to mono (mean of channels)"
        logger.info(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        msg = f"{name}: resampled from {rate} Hz to {sample_rate} Hz"
        logger.info(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
        mono = resample(mono, rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def check_audio_out(path: str | Path) -> Path:
    """Check, before any work, that `path` names an audio format soundfile writes in a writable place."""
    import soundfile as sf

    path = Path(path).expanduser()
    if path.suffix[1:].upper() not in sf.available_formats():
        raise OutputError(f"cannot write {path}: {path.suffix or 'no extension'} is not an audio format soundfile "
                          "writes; name the output .wav or .flac")
    writable_parent(path)
    return path


def save_audio(path: str | Path, audio: Any, sample_rate: int, subtype: str = "FLOAT") -> Path:
    """Write (T,) or (T, channels) audio (numpy or MLX) to a WAV file; `subtype` "FLOAT" or "PCM_16"."""
    import soundfile as sf

    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim not in (1, 2):
        raise AudioError(f"audio to save must be (T,) or (T, channels), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise AudioError(f"refusing to write {path}: audio has NaN or inf samples")
    path = check_audio_out(path)
    if subtype.upper().startswith("PCM"):
        arr = np.clip(arr, -1.0, 1.0)
    with atomic_file(path) as tmp:  # a temporary file, renamed over `path` once complete
        try:
            sf.write(str(tmp), arr, int(sample_rate), subtype=subtype.upper())
        except (RuntimeError, TypeError, ValueError) as e:  # LibsndfileError is a RuntimeError
            raise OutputError(f"cannot write {path} as {subtype.upper()} audio ({e}); try a .wav name") from e
    return path


def duration(audio: Any, sample_rate: int) -> float:
    """Length of (T,) or (T, channels) audio in seconds."""
    return int(np.shape(audio)[0]) / float(sample_rate)


def player(audio: Any, sample_rate: int, normalize: bool = False) -> Any:
    """An `IPython.display.Audio` player; with `normalize=False` the true level is heard (clipped to ±1)."""
    from IPython.display import Audio

    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 2:  # (T, channels) -> IPython wants (channels, T)
        arr = arr.T
    if not normalize:
        arr = np.clip(arr, -1.0, 1.0)
    try:
        return Audio(arr, rate=int(sample_rate), normalize=normalize)
    except TypeError:  # very old IPython without `normalize`
        return Audio(arr, rate=int(sample_rate))
