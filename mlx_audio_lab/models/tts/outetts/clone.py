"""Voice cloning: a speaker profile from a reference clip, built as outetts' `create_speaker` (interface v3) does.

Steps: the clip at 24 kHz (mono, torchaudio's sinc resampling) -> word timings (Whisper word timestamps) ->
DAC codes of the loudness-normalised clip (-18 LUFS, peak <= -1 dBFS, 5 s windows) -> per word: its slice of
the codes at 75 frames/s (the first word starts 20 frames early, the last ends 20 frames late) and its features
(RMS energy, spectral centroid, autocorrelation pitch, each 0..100) -> the JSON profile.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ....audio import AudioError, load_audio, sinc_resample
from ....errors import InputError

SAMPLE_RATE = 24_000
FRAMES_PER_SECOND = 75  # the package slices codes at 75 frames/s (DAC 24 kHz, hop 320)
EDGE_FRAMES = 20  # frames of context before the first word and after the last
ENCODE_SECONDS = 5.0  # the package encodes the clip in separate windows of this length
TARGET_LUFS, PEAK_DBFS, LOUDNESS_BLOCK = -18.0, -1.0, 0.4
MAX_SECONDS = 20.0  # the package refuses longer clips
MIN_SECONDS = 0.5  # shorter than a word and a loudness block: refused here
PITCH = dict(min_freq=75.0, max_freq=600.0, frame_length=400, hop_length=160, threshold=0.3)
INTERFACE_VERSION = 3


@dataclass
class TimedWord:
    """A word of the clip and its span in seconds (from Whisper's word timestamps)."""

    word: str
    start: float
    end: float


def read_clip(path: str | Path) -> np.ndarray:
    """Mono float32 (T,) at 24 kHz: channels averaged, other rates resampled with torchaudio's windowed sinc."""
    import soundfile as sf

    try:
        rate = sf.info(str(path)).samplerate
    except Exception as err:  # soundfile's LibsndfileError / RuntimeError
        raise AudioError(f"cannot read {path} as audio ({type(err).__name__}: {err}); give a WAV/FLAC clip") from err
    audio = sinc_resample(load_audio(path, rate), rate, SAMPLE_RATE)
    seconds = len(audio) / SAMPLE_RATE
    if seconds > MAX_SECONDS:
        raise InputError(f"{path} is {seconds:.1f} s; a voice clip must be at most {MAX_SECONDS:.0f} s (cut it)")
    if seconds < MIN_SECONDS:
        raise InputError(f"{path} is {seconds:.2f} s; a voice clip needs at least {MIN_SECONDS} s of speech")
    return audio


def whisper_words(path: str | Path, whisper=None, transcript: str | None = None) -> tuple[str, list[TimedWord]]:
    """(transcript, words with times) of a clip by the project's Whisper (bundled tiny.en by default).

    A given `transcript` is forced as Whisper's prefix, so the words are the ones the clip is said to hold.
    """
    if whisper is None:
        from ....hub import resolve
        from ...stt.whisper import load_model

        whisper = load_model(resolve("whisper-tiny.en"))
    with warnings.catch_warnings():  # "resampled to 16000 Hz": expected, Whisper's rate
        warnings.simplefilter("ignore", UserWarning)
        audio = load_audio(path, 16000)
    result = whisper.transcribe(audio, beam_size=1, word_timestamps=True,
                                prefix=transcript.strip() if transcript else None)
    words = [TimedWord(w.word.strip(), float(w.start), float(w.end)) for s in result.segments for w in s.words]
    words = [w for w in words if w.word]
    if not words:
        raise InputError(f"{path}: Whisper found no words in the clip; give a clip of clear speech")
    return result.text, words


def clean_transcript(text: str) -> str:
    """The package's `text_normalizations`: whitespace, ellipsis, curly quotes, dashes, control characters."""
    import re

    text = re.sub(r"\s+", " ", text).replace("…", "...").strip()
    text = re.sub(r"[“”]", '"', text)
    text = re.sub(r"[‘’]", "'", text)
    text = re.sub(r"[–—]", "-", text)
    return re.sub(r"[\x00-\x1F\x7F-\x9F]", "", text)


def normalize_loudness(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The clip at -18 LUFS (BS.1770 integrated loudness, pyloudnorm), then peak-limited to -1 dBFS."""
    import pyloudnorm as pyln

    x = np.asarray(audio, dtype=np.float32)
    n, short = len(x), len(x) < int(LOUDNESS_BLOCK * rate)
    padded = np.pad(x, (0, int(LOUDNESS_BLOCK * rate) - n)) if short else x
    loudness = pyln.Meter(rate, block_size=LOUDNESS_BLOCK).integrated_loudness(padded)
    if not np.isfinite(loudness):
        raise InputError("the voice clip is silent (no loudness to normalise); give a clip of speech")
    with warnings.catch_warnings():  # "possible clipped samples": the peak limit below handles them
        warnings.simplefilter("ignore", UserWarning)
        out = pyln.normalize.loudness(padded, loudness, TARGET_LUFS)
        if np.max(np.abs(out)) > 10 ** (PEAK_DBFS / 20):
            out = pyln.normalize.peak(out, PEAK_DBFS)
    return np.asarray(out[:n] if short else out, dtype=np.float32)


def encode_clip(codec, audio: np.ndarray) -> np.ndarray:
    """DAC codes (codebooks, frames) of the normalised clip, each 5 s window encoded on its own (as the package)."""
    x = normalize_loudness(audio)
    hop = codec.config.hop_length
    window = int(math.ceil(int(ENCODE_SECONDS * SAMPLE_RATE) / hop) * hop)
    return np.concatenate([codec.encode(x[i:i + window]) for i in range(0, len(x), window)], axis=1)


def pitch_track(audio: np.ndarray, sr: int, min_freq: float, max_freq: float, frame_length: int,
                hop_length: int, threshold: float) -> np.ndarray:
    """Hz per frame by autocorrelation (Hann frames, parabolic peak); unvoiced frames clamp to `min_freq`."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    x = np.pad(x, (0, (frame_length - len(x) % hop_length) % hop_length))
    if len(x) < frame_length:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop_length]  # (F, frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)  # periodic Hann
    spectrum = np.fft.rfft(frames * window, n=2 * frame_length, axis=1)
    acf = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, axis=1)[:, :frame_length]  # (F, frame_length)
    lo, hi = max(1, int(sr / max_freq)), min(frame_length, int(sr / min_freq))
    peak = np.argmax(acf[:, lo:hi], axis=1) + lo
    peak_value = acf[np.arange(len(acf)), peak]
    at = np.clip(peak, 1, frame_length - 2)
    rows = np.arange(len(acf))
    a, b, c = acf[rows, at - 1], acf[rows, at], acf[rows, at + 1]
    delta = np.where((peak > 0) & (peak < frame_length - 1), 0.5 * (a - c) / (a - 2 * b + c + 1e-8), 0.0)
    period = (peak + delta) / sr
    pitch = np.where(period > 0, 1.0 / np.where(period > 0, period, 1.0), 0.0)
    pitch = np.where(peak_value / (acf[:, 0] + 1e-8) > threshold, pitch, 0.0)
    return np.clip(pitch, min_freq, max_freq)


def raw_features(audio: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Energy (RMS), spectral centroid / Nyquist and mean pitch scaled to 0..1, before rounding."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size == 0 or not np.isfinite(x).all():
        return {"energy": 0.0, "spectral_centroid": 0.0, "pitch": 0.0}
    spec = np.abs(np.fft.rfft(x))
    freqs = np.linspace(0, sr / 2, len(spec))
    track = pitch_track(x, sr, **PITCH)
    lo, hi = PITCH["min_freq"], PITCH["max_freq"]
    # a word under one pitch frame: the package's mean of no frames is NaN (it fails); its pitch is 0 here
    pitch = float(np.clip((track.mean() - lo) / (hi - lo), 0.0, 1.0)) if len(track) else 0.0
    return {"energy": float(np.sqrt(np.mean(x ** 2))),
            "spectral_centroid": float(np.sum(freqs * spec) / (np.sum(spec) + 1e-10) / (sr / 2)),
            "pitch": pitch}


def features(audio: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, int]:
    """The profile's features: each 0..1 value times 100, rounded (Python's round, as the package)."""
    return {k: round(v * 100) for k, v in raw_features(audio, sr).items()}


def build_profile(audio: np.ndarray, codes: np.ndarray, text: str, words: list[TimedWord],
                  sr: int = SAMPLE_RATE) -> dict:
    """The speaker profile from the clip (T,) at 24 kHz, its codes (>= 2, frames), transcript and timed words."""
    if not words:
        raise InputError("no words to build a speaker profile from; give a clip of clear speech")
    c1, c2 = [int(c) for c in codes[0]], [int(c) for c in codes[1]]
    entries, start = [], None
    for idx, w in enumerate(words):
        if start is None:
            start = max(0, int(w.start * FRAMES_PER_SECOND) - EDGE_FRAMES)
        end = int(w.end * FRAMES_PER_SECOND)
        if idx == len(words) - 1:
            end = min(len(c1), end + EDGE_FRAMES)
        piece = audio[int(w.start * sr):int(w.end * sr)]
        entries.append({"word": w.word.strip(), "duration": round(len(c1[start:end]) / FRAMES_PER_SECOND, 2),
                        "c1": c1[start:end], "c2": c2[start:end], "features": features(piece, sr)})
        start = end
    return {"text": clean_transcript(text), "words": entries, "global_features": features(audio, sr),
            "interface_version": INTERFACE_VERSION}


def create_speaker(path: str | Path, codec, whisper=None, transcript: str | None = None,
                   words: list[TimedWord] | None = None) -> dict:
    """A speaker profile from a clip file: Whisper's word timings (or the given `words` + `transcript`)."""
    audio = read_clip(path)
    codes = encode_clip(codec, audio)  # first: a silent clip is refused before Whisper runs
    if words is None:
        transcript, words = whisper_words(path, whisper, transcript)
    elif transcript is None:
        transcript = " ".join(w.word for w in words)
    return build_profile(audio, codes, transcript, words)


def save_speaker(profile: dict, path: str | Path) -> Path:
    """Write the profile as the package's `save_speaker` does (JSON, indent 2), atomically."""
    from ....atomic import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(profile, indent=2))
    return path


def is_clip(voice) -> bool:
    """Whether a --voice value names an audio file (not a JSON profile or a shipped speaker name)."""
    return isinstance(voice, str | Path) and Path(voice).suffix.lower() in {".wav", ".flac", ".ogg", ".mp3", ".aiff",
                                                                          ".aif", ".au", ".m4a", ".opus"}
