"""Shared DSP in MLX: windows, STFT / iSTFT, mel filter banks, Whisper's log-mel and Kaldi's fbank.

Every function accepts numpy or MLX input and returns MLX arrays. Layouts are channels-last: a
spectrogram is `(..., frames, freqs)`, a mel spectrogram `(frames, n_mels)` (torch returns freqs first).
"""

from __future__ import annotations

import math
from functools import lru_cache

import mlx.core as mx
import numpy as np

ArrayLike = mx.array | np.ndarray

__all__ = [
    "amplitude_to_db",
    "get_window",
    "hifigan_log_mel",
    "hz_to_mel",
    "istft",
    "kaldi_fbank",
    "kaldi_mel_banks",
    "log_mel_spectrogram",
    "magnitude",
    "mel_filters",
    "mel_to_hz",
    "power_spectrogram",
    "stft",
]


def _as_mx(x: ArrayLike, dtype: mx.Dtype = mx.float32) -> mx.array:
    """Convert numpy / MLX input to an MLX array of `dtype` (complex input is kept complex)."""
    if isinstance(x, mx.array):
        return x if x.dtype in (dtype, mx.complex64) else x.astype(dtype)
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        return mx.array(arr.astype(np.complex64))
    return mx.array(arr.astype(np.float32 if dtype == mx.float32 else arr.dtype))


# ----------------------------------------------------------------------------------------------- windows


def _window_np(name: str, n: int, periodic: bool) -> np.ndarray:
    """The window in float64 numpy, with torch's conventions (periodic = symmetric of n + 1, last dropped)."""
    if n == 0:
        return np.zeros(0)
    if n == 1 or name in ("ones", "boxcar", "rectangular"):
        return np.ones(n)
    m = n if periodic else n - 1  # the denominator of the cosine terms
    k = np.arange(n, dtype=np.float64)
    if name in ("hann", "hanning"):
        return 0.5 - 0.5 * np.cos(2 * np.pi * k / m)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * k / m)
    if name == "blackman":
        return 0.42 - 0.5 * np.cos(2 * np.pi * k / m) + 0.08 * np.cos(4 * np.pi * k / m)
    if name in ("bartlett", "triangular"):
        return 1.0 - np.abs(2.0 * k / m - 1.0)
    raise ValueError(f"unknown window {name!r}: use hann, hamming, blackman, bartlett or ones")


@lru_cache(maxsize=64)
def _window_cached(name: str, n: int, periodic: bool) -> np.ndarray:
    return _window_np(name, n, periodic).astype(np.float32)


def get_window(name: str, n: int, periodic: bool = True) -> mx.array:
    """`n` samples of window `name` ("hann", "hamming", "blackman", "bartlett", "ones"); matches torch's."""
    return mx.array(_window_cached(name.lower(), int(n), bool(periodic)))


def _fft_window(window: str | ArrayLike | None, n_fft: int, win_length: int) -> mx.array:
    """The analysis window, zero-padded centrally to `n_fft` as torch does when `win_length < n_fft`."""
    if window is None:
        win = mx.ones((win_length,))
    elif isinstance(window, str):
        win = get_window(window, win_length, periodic=True)
    else:
        win = _as_mx(window)
    if win.ndim != 1 or win.shape[0] != win_length:
        raise ValueError(f"window must be 1-D of length {win_length}, got shape {tuple(win.shape)}")
    if win_length > n_fft:
        raise ValueError(f"win_length={win_length} must not exceed n_fft={n_fft}")
    left = (n_fft - win_length) // 2
    if win_length < n_fft:
        win = mx.pad(win, [(left, n_fft - win_length - left)])
    return win


# ----------------------------------------------------------------------------------------------- STFT


def _reflect_pad(x: mx.array, pad: int) -> mx.array:
    """Pad the last axis by `pad` on each side, mirrored without repeating the edge (torch "reflect")."""
    if pad == 0:
        return x
    if pad >= x.shape[-1]:
        raise ValueError(f"reflect padding of {pad} needs more than {pad} samples, got {x.shape[-1]}")
    left = x[..., 1 : pad + 1][..., ::-1]
    right = x[..., -pad - 1 : -1][..., ::-1]
    return mx.concatenate([left, x, right], axis=-1)


def _frame(x: mx.array, n_fft: int, hop: int) -> mx.array:
    """(B, T) -> (B, frames, n_fft) overlapping frames, as a strided view."""
    b, t = x.shape
    if t < n_fft:
        raise ValueError(f"input of {t} samples (after padding) is shorter than n_fft={n_fft}")
    n_frames = 1 + (t - n_fft) // hop
    x = mx.contiguous(x)
    return mx.as_strided(x, shape=(b, n_frames, n_fft), strides=(t, hop, 1))


def stft(
    x: ArrayLike,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | ArrayLike | None = "hann",
    center: bool = True,
    pad_mode: str = "reflect",
    onesided: bool = True,
    normalized: bool = False,
) -> mx.array:
    """Short-time Fourier transform of (..., T) audio -> complex64 (..., frames, freqs).

    Same numbers as `torch.stft(..., return_complex=True).transpose(-1, -2)`; a string window is periodic.
    """
    hop = hop_length or n_fft // 4
    win_length = win_length or n_fft
    x = _as_mx(x)
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    if center:
        pad = n_fft // 2
        if pad_mode == "reflect":
            x = _reflect_pad(x, pad)
        elif pad_mode == "constant":
            x = mx.pad(x, [(0, 0), (pad, pad)])
        elif pad_mode in ("edge", "replicate"):
            x = mx.pad(x, [(0, 0), (pad, pad)], mode="edge")
        else:
            raise ValueError(f"pad_mode must be 'reflect', 'constant' or 'replicate', got {pad_mode!r}")
    frames = _frame(x, n_fft, hop) * _fft_window(window, n_fft, win_length)
    spec = mx.fft.rfft(frames, axis=-1) if onesided else mx.fft.fft(frames, axis=-1)
    if normalized:
        spec = spec * (1.0 / math.sqrt(n_fft))
    return spec.reshape(*lead, *spec.shape[1:])


def _shifted_overlap_add(n_fft: int, hop: int) -> bool:
    """Whether `istft` overlap-adds by shifted block sums (hop divides n_fft, fast paths on) instead of a scatter
    add (MLX's CPU scatter: ~100 ms for Kokoro's 90k frames of 20 samples)."""
    from .layers.fast_math import fast_math_active  # here: layers/ imports dsp

    return n_fft % hop == 0 and fast_math_active()


def _overlap_add(frames: mx.array, hop: int) -> mx.array:
    """(B, N, q * hop) frames, frame f starting at sample f * hop -> (B, (N + q - 1) * hop): the q blocks of hop
    samples of every frame, block j shifted j frames, summed."""
    B, N, n_fft = frames.shape
    q = n_fft // hop
    blocks = frames.reshape(B, N, q, hop)
    y = mx.pad(blocks[:, :, 0], [(0, 0), (0, q - 1), (0, 0)])
    for j in range(1, q):
        y = y + mx.pad(blocks[:, :, j], [(0, 0), (j, q - 1 - j), (0, 0)])
    return y.reshape(B, (N + q - 1) * hop)


def istft(
    spec: ArrayLike,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | ArrayLike | None = "hann",
    center: bool = True,
    length: int | None = None,
    onesided: bool = True,
    normalized: bool = False,
) -> mx.array:
    """Inverse STFT of complex (..., frames, freqs) -> (..., T), as `torch.istft` (spectrum transposed).

    Overlap-add of the windowed frames divided by the overlap-added SQUARED window (the least-squares
    inverse of `stft`). Where that envelope is ~0 (torch raises) the samples are left undivided.
    """
    hop = hop_length or n_fft // 4
    win_length = win_length or n_fft
    spec = _as_mx(spec)
    lead = spec.shape[:-2]
    n_frames = spec.shape[-2]
    spec = spec.reshape(-1, n_frames, spec.shape[-1])
    if normalized:
        spec = spec * math.sqrt(n_fft)
    if onesided:
        frames = mx.fft.irfft(spec, n=n_fft, axis=-1)
    else:
        frames = mx.real(mx.fft.ifft(spec, n=n_fft, axis=-1))
    win = _fft_window(window, n_fft, win_length)
    frames = frames * win  # (B, frames, n_fft)

    total = n_fft + hop * (n_frames - 1)
    b = frames.shape[0]
    if _shifted_overlap_add(n_fft, hop):
        y = _overlap_add(frames, hop)
        envelope = _overlap_add(mx.broadcast_to(win * win, (1, n_frames, n_fft)), hop)[0]
    else:
        idx = (mx.arange(n_frames)[:, None] * hop + mx.arange(n_fft)[None, :]).reshape(-1)
        y = mx.zeros((b, total), dtype=frames.dtype).at[:, idx].add(frames.reshape(b, -1))
        envelope = mx.zeros((total,), dtype=win.dtype).at[idx].add(mx.tile(win * win, (n_frames,)))

    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = total - (n_fft // 2 if center else 0)
    y = y[:, start : min(end, total)]
    envelope = envelope[start : min(end, total)]
    y = y / mx.where(envelope > 1e-11, envelope, 1.0)
    if end > total:
        y = mx.pad(y, [(0, 0), (0, end - total)])
    return y.reshape(*lead, y.shape[-1])


def magnitude(spec: ArrayLike) -> mx.array:
    """|X| of a complex spectrogram."""
    return mx.abs(_as_mx(spec))


def power_spectrogram(spec: ArrayLike) -> mx.array:
    """|X|^2 of a complex spectrogram (computed as re^2 + im^2, no square root)."""
    spec = _as_mx(spec)
    return mx.square(mx.real(spec)) + mx.square(mx.imag(spec))


def amplitude_to_db(
    x: ArrayLike, power: bool = True, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> mx.array:
    """10·log10 (power) or 20·log10 (amplitude) of `x` over `ref`, floored at `amin` and at max - `top_db`."""
    x = _as_mx(x)
    scale = 10.0 if power else 20.0
    db = scale * mx.log10(mx.maximum(x, amin)) - scale * math.log10(max(ref, amin))
    if top_db is not None:
        db = mx.maximum(db, db.max() - top_db)
    return db


# ----------------------------------------------------------------------------------------------- mel


def hz_to_mel(freq: float | np.ndarray, mel_scale: str = "htk") -> np.ndarray:
    """Hertz -> mel on the "htk", "kaldi" or "slaney" (linear below 1 kHz, log above) scale, float64."""
    f = np.asarray(freq, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if mel_scale == "kaldi":
        return 1127.0 * np.log(1.0 + f / 700.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk', 'kaldi' or 'slaney', got {mel_scale!r}")
    logstep = 27.0 / np.log(6.4)
    linear = 3.0 * f / 200.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) * logstep, linear)


def mel_to_hz(mel: float | np.ndarray, mel_scale: str = "htk") -> np.ndarray:
    """Mel -> hertz, the inverse of `hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (np.power(10.0, m / 2595.0) - 1.0)
    if mel_scale == "kaldi":
        return 700.0 * (np.exp(m / 1127.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk', 'kaldi' or 'slaney', got {mel_scale!r}")
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), 200.0 * m / 3.0)


@lru_cache(maxsize=32)
def _mel_filters_np(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float, mel_scale: str, norm: str | None
) -> np.ndarray:
    """Triangular filters (n_freqs, n_mels) in float64, as transformers' `mel_filter_bank`."""
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    if f_min > f_max:
        raise ValueError(f"f_min={f_min} must not exceed f_max={f_max}")
    n_freqs = n_fft // 2 + 1
    mels = np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2)
    edges = mel_to_hz(mels, mel_scale)  # band edges / centres in Hz
    bins = np.linspace(0, sample_rate // 2, n_freqs)  # transformers spaces bins to sr // 2 (integer)
    slopes = edges[None, :] - bins[:, None]  # (n_freqs, n_mels + 2)
    rising = -slopes[:, :-2] / np.diff(edges)[:-1]
    falling = slopes[:, 2:] / np.diff(edges)[1:]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= 2.0 / (edges[2 : n_mels + 2] - edges[:n_mels])  # constant energy per band
    return weights


def mel_filters(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    mel_scale: str = "htk",
    norm: str | None = None,
) -> mx.array:
    """Mel filter bank (n_fft // 2 + 1, n_mels), float32; equals transformers' `mel_filter_bank`.

    `mel_scale="slaney", norm="slaney"` is librosa's default (and Whisper's); `"htk"` with no norm is
    torchaudio's default.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    w = _mel_filters_np(int(sample_rate), n_fft, n_mels, float(f_min), float(f_max), mel_scale, norm)
    return mx.array(w.astype(np.float32))


def hifigan_log_mel(audio: ArrayLike, sample_rate: int, n_fft: int, hop: int, n_mels: int,
                    win_length: int | None = None, f_min: float = 0.0, f_max: float | None = None) -> mx.array:
    """The vocoder front end of HiFi-GAN / BigVGAN / Matcha (`mel_spectrogram` of their meldataset.py): (L,) or
    (B, L) audio -> (B, frames, n_mels); reflect-padded (n_fft - hop) / 2 each side, uncentred Hann STFT,
    sqrt(|X|^2 + 1e-9), librosa's (Slaney) mel filters, log(max(., 1e-5))."""
    x = _as_mx(audio)
    x = x[None] if x.ndim == 1 else x
    pad = (n_fft - hop) // 2
    x = mx.pad(x, [(0, 0), (pad, pad)], mode="reflect")
    spec = stft(x, n_fft, hop, win_length or n_fft, window="hann", center=False)  # (B, frames, bins)
    mag = mx.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    mel = mag @ mel_filters(sample_rate, n_fft, n_mels, f_min, f_max, "slaney", "slaney")
    return mx.log(mx.maximum(mel, 1e-5))


# ----------------------------------------------------------------------------------------------- Whisper


def log_mel_spectrogram(
    audio: ArrayLike,
    n_mels: int = 80,
    n_fft: int = 400,
    hop_length: int = 160,
    sample_rate: int = 16000,
    pad_to: int | None = 480000,
    pad_mel_to: int | None = None,
) -> mx.array:
    """Whisper's log-mel spectrogram of mono audio -> (frames, n_mels).

    `pad_to=480000` zero-pads (or trims) the audio to 30 s first, exactly as transformers'
    `WhisperFeatureExtractor`: 3000 frames. `pad_to=None` takes the clip as it is (len // hop frames), so
    long audio is processed once and windowed later; the clamp to (max - 8) then uses the whole clip's max.
    `pad_mel_to` pads (with 0.0, as Whisper's `pad_or_trim`) or trims the frame axis afterwards. This is
    what faster-whisper does: it appends one hop of zeros to the audio, computes the clip's log-mel and
    pads each 30 s window of the MEL, while openai-whisper / transformers pad the AUDIO with silence
    (whose log-mel is max - 8 -> not 0.0); the two differ in the padded frames and in the clamp level.
    """
    x = _as_mx(audio)
    if x.ndim != 1:
        raise ValueError(f"log_mel_spectrogram expects mono (T,) audio, got shape {tuple(x.shape)}")
    if pad_to is not None:
        n = x.shape[0]
        x = x[:pad_to] if n >= pad_to else mx.pad(x, [(0, pad_to - n)])
    spec = stft(x, n_fft, hop_length, window="hann", center=True, pad_mode="reflect")[:-1]
    power = power_spectrogram(spec)  # (frames, freqs)
    mel = power @ mel_filters(sample_rate, n_fft, n_mels, 0.0, 8000.0, "slaney", "slaney")
    log_spec = mx.log10(mx.maximum(mel, 1e-10))
    log_spec = mx.maximum(log_spec, log_spec.max() - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    if pad_mel_to is not None:
        frames = log_spec.shape[0]
        if frames >= pad_mel_to:
            log_spec = log_spec[:pad_mel_to]
        else:
            log_spec = mx.pad(log_spec, [(0, pad_mel_to - frames), (0, 0)])
    return log_spec


# Kaldi's log mel filter bank (`torchaudio.compliance.kaldi.fbank` with its defaults): CAMPPlus's front end and,
# on 16-bit-scaled audio, SeamlessM4T / w2v-BERT 2.0's. 25 ms Povey-windowed frames every 10 ms (snip edges),
# DC removed, pre-emphasis 0.97, 512-point power spectrum, 80 triangular bands on Kaldi's mel scale from 20 Hz to
# Nyquist, natural log floored at float32 eps.
def kaldi_mel_banks(n_mels: int, n_fft: int, sample_rate: int, low: float = 20.0, high: float = 0.0) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangles equally spaced on mel = 1127 ln(1 + f / 700) (the Nyquist bin is 0)."""
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, np.float64) / 700.0)

    high = sample_rate / 2 + high if high <= 0 else high
    lo, hi = mel(low), mel(high)
    delta = (hi - lo) / (n_mels + 1)
    left = lo + np.arange(n_mels)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    f = mel(np.arange(n_fft // 2) * sample_rate / n_fft)[None]
    banks = np.maximum(0.0, np.minimum((f - left) / (center - left), (right - f) / (right - center)))
    return np.concatenate([banks, np.zeros((n_mels, 1))], axis=1).T.astype(np.float32)


def povey_window(n: int) -> np.ndarray:
    """A symmetric Hann window to the power 0.85."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (n - 1))) ** 0.85


def kaldi_fbank(wav: np.ndarray | mx.array, n_mels: int = 80, sample_rate: int = 16_000) -> mx.array:
    """(L,) audio -> log mel energies (1 + (L - 400) // 160, 80)."""
    length, shift, n_fft = sample_rate * 25 // 1000, sample_rate * 10 // 1000, 512
    x = np.asarray(wav, np.float32)
    n = 1 + (len(x) - length) // shift
    frames = mx.array(np.lib.stride_tricks.as_strided(x, (n, length), (x.strides[0] * shift, x.strides[0])))
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames - 0.97 * mx.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames * mx.array(povey_window(length).astype(np.float32))
    spec = mx.fft.rfft(mx.pad(frames, [(0, 0), (0, n_fft - length)]), axis=-1)
    power = spec.real**2 + spec.imag**2
    mel = power @ mx.array(kaldi_mel_banks(n_mels, n_fft, sample_rate))
    return mx.log(mx.maximum(mel, np.finfo(np.float32).eps))
