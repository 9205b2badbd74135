"""dsp against the references: torch windows / stft / istft, transformers' mel filters and Whisper log-mel."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
torch = pytest.importorskip("torch")

from mlx_audio_lab import dsp  # noqa: E402

TORCH_WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
}


def _audio(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Audio-level test signal: a chirp plus noise, peak around 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(shape[-1]) / 16000
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return (chirp + 0.1 * rng.standard_normal(shape)).astype(np.float32)


def _torch_stft(x: np.ndarray, n_fft: int, hop: int, win_length: int | None = None, window: str = "hann",
                **kw) -> np.ndarray:
    wl = win_length or n_fft
    win = TORCH_WINDOWS[window](wl)
    spec = torch.stft(torch.from_numpy(x), n_fft, hop, win_length=wl, window=win, return_complex=True, **kw)
    return spec.transpose(-1, -2).numpy()


# ----------------------------------------------------------------------------------------------- windows


@pytest.mark.parametrize("name", sorted(TORCH_WINDOWS))
@pytest.mark.parametrize("n", [1, 2, 7, 400, 1024])
@pytest.mark.parametrize("periodic", [True, False])
def test_window_matches_torch(name: str, n: int, periodic: bool) -> None:
    ours = np.array(dsp.get_window(name, n, periodic=periodic))
    ref = TORCH_WINDOWS[name](n, periodic=periodic).numpy()
    assert ours.dtype == np.float32 and ours.shape == (n,)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_window_ones_and_unknown() -> None:
    np.testing.assert_array_equal(np.array(dsp.get_window("ones", 5)), np.ones(5))
    np.testing.assert_array_equal(np.array(dsp.get_window("boxcar", 3)), np.ones(3))
    with pytest.raises(ValueError, match="unknown window"):
        dsp.get_window("kaiserish", 8)


# ----------------------------------------------------------------------------------------------- stft


@pytest.mark.parametrize(
    "shape, n_fft, hop, kw",
    [
        ((8000,), 400, 160, {}),
        ((3, 6000), 512, 128, {}),
        ((2, 6000), 512, 128, {"center": False}),
        ((6000,), 512, 128, {"pad_mode": "constant"}),
        ((2, 6000), 512, 100, {"win_length": 300}),
        ((5000,), 256, 64, {"win_length": 255, "window": "hamming"}),
        ((5000,), 256, 64, {"window": "blackman", "onesided": False}),
    ],
)
def test_stft_matches_torch(shape: tuple[int, ...], n_fft: int, hop: int, kw: dict) -> None:
    x = _audio(shape)
    tkw = {"center": kw.get("center", True), "pad_mode": kw.get("pad_mode", "reflect")}
    if "onesided" in kw:
        tkw["onesided"] = kw["onesided"]
    ref = _torch_stft(x, n_fft, hop, kw.get("win_length"), kw.get("window", "hann"), **tkw)
    ours = dsp.stft(x, n_fft, hop, **kw)
    assert ours.dtype == mx.complex64
    assert tuple(ours.shape) == ref.shape  # (..., frames, freqs)
    np.testing.assert_allclose(np.array(ours), ref, rtol=0, atol=1e-5)


def test_stft_accepts_mx_noncontiguous_and_array_window() -> None:
    x = _audio((4000, 2))  # (T, 2): column views are not contiguous
    ref = _torch_stft(np.ascontiguousarray(x.T), 400, 160)
    ours = dsp.stft(mx.array(x).T, 400, 160, window=np.hanning(401)[:-1])
    np.testing.assert_allclose(np.array(ours), ref, rtol=0, atol=1e-5)


def test_stft_reflect_needs_enough_samples() -> None:
    with pytest.raises(ValueError, match="reflect padding"):
        dsp.stft(np.zeros(100, np.float32), 400, 160)


# ----------------------------------------------------------------------------------------------- istft


@pytest.mark.parametrize(
    "shape, n_fft, hop, win_length, length",
    [((8000,), 400, 160, None, 8000), ((2, 6000), 512, 128, None, None), ((6000,), 512, 100, 300, 6000)],
)
def test_istft_matches_torch(shape, n_fft, hop, win_length, length) -> None:
    x = _audio(shape, seed=1)
    spec = dsp.stft(x, n_fft, hop, win_length=win_length)
    wl = win_length or n_fft
    ref = torch.istft(torch.from_numpy(np.array(spec)).transpose(-1, -2), n_fft, hop, win_length=wl,
                      window=torch.hann_window(wl), center=True, length=length).numpy()
    ours = np.array(dsp.istft(spec, n_fft, hop, win_length=win_length, length=length))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


def test_istft_center_false_matches_torch() -> None:
    x = _audio((6000,), seed=2)
    spec = dsp.stft(x, 512, 128, window="hamming", center=False)
    ref = torch.istft(torch.from_numpy(np.array(spec)).T, 512, 128, window=torch.hamming_window(512),
                      center=False).numpy()
    ours = np.array(dsp.istft(spec, 512, 128, window="hamming", center=False))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_fft, hop", [(400, 160), (512, 128), (1024, 256), (800, 200)])
def test_istft_round_trip_keeps_signal_and_level(n_fft: int, hop: int) -> None:
    """The envelope is the sum of SQUARED windows: dividing by the plain window sum would change the level."""
    t = np.arange(16000) / 16000
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    back = np.array(dsp.istft(dsp.stft(sine, n_fft, hop), n_fft, hop, length=len(sine)))
    np.testing.assert_allclose(back, sine, rtol=0, atol=1e-5)
    rms = np.sqrt(np.mean(back**2))
    assert abs(rms / np.sqrt(np.mean(sine**2)) - 1.0) < 1e-5
    win = np.hanning(n_fft + 1)[:-1]
    assert abs((win**2).sum() / win.sum() - 1.0) > 0.2  # the two normalisations really differ here


def test_istft_batched_round_trip() -> None:
    x = _audio((3, 7000), seed=3)
    back = np.array(dsp.istft(dsp.stft(x, 512, 128), 512, 128, length=7000))
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------------------------- mel


MEL_CASES = [(16000, 400, 80, 0.0, 8000.0), (16000, 400, 128, 0.0, 8000.0), (22050, 1024, 80, 0.0, None),
             (24000, 1024, 100, 20.0, 12000.0), (44100, 2048, 128, 30.0, 16000.0)]


@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
@pytest.mark.parametrize("norm", [None, "slaney"])
@pytest.mark.parametrize("sr, n_fft, n_mels, f_min, f_max", MEL_CASES)
def test_mel_filters_match_transformers(mel_scale, norm, sr, n_fft, n_mels, f_min, f_max) -> None:
    from transformers.audio_utils import mel_filter_bank

    ref = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=f_min,
                          max_frequency=f_max if f_max is not None else sr / 2, sampling_rate=sr, norm=norm,
                          mel_scale=mel_scale)
    ours = dsp.mel_filters(sr, n_fft, n_mels, f_min, f_max, mel_scale=mel_scale, norm=norm)
    assert ours.dtype == mx.float32 and tuple(ours.shape) == (n_fft // 2 + 1, n_mels)
    np.testing.assert_allclose(np.array(ours), ref, rtol=0, atol=1e-6)


def test_mel_scale_round_trip() -> None:
    f = np.array([0.0, 500.0, 1000.0, 4000.0, 8000.0])
    for scale in ("htk", "slaney", "kaldi"):
        np.testing.assert_allclose(dsp.mel_to_hz(dsp.hz_to_mel(f, scale), scale), f, atol=1e-6)
    with pytest.raises(ValueError):
        dsp.mel_filters(16000, 400, 80, norm="area")


# ----------------------------------------------------------------------------------------------- Whisper


def _whisper_reference(audio: np.ndarray, n_mels: int, **kw) -> np.ndarray:
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=n_mels)
    return fe(audio, sampling_rate=16000, return_tensors="np", **kw).input_features[0].T


def _whisper_float64(audio: np.ndarray, n_mels: int, pad_to: int | None) -> np.ndarray:
    """The same recipe in float64 torch: the 'truth' both float32 implementations approximate."""
    from transformers.audio_utils import mel_filter_bank

    x = audio.astype(np.float64)
    if pad_to is not None:
        x = np.pad(x[:pad_to], (0, max(0, pad_to - len(x))))
    spec = torch.stft(torch.from_numpy(x), 400, 160, window=torch.hann_window(400, dtype=torch.float64),
                      return_complex=True)[:, :-1].abs() ** 2
    fb = mel_filter_bank(201, n_mels, 0.0, 8000.0, 16000, norm="slaney", mel_scale="slaney")
    log = (torch.from_numpy(fb).T @ spec).clamp(min=1e-10).log10()
    return ((torch.maximum(log, log.max() - 8.0) + 4.0) / 4.0).numpy().T


def _assert_whisper_close(ours: np.ndarray, ref: np.ndarray, truth: np.ndarray) -> None:
    """Equal to the extractor within 1e-5 but for rare bins (<1% on speech) at the float32 noise floor just
    above the (max - 8) clamp, and at least as close to the float64 truth as the extractor's float32 path."""
    assert ours.shape == ref.shape == truth.shape
    err = np.abs(ours - ref)
    assert err.max() < 1e-4
    assert (err > 1e-5).mean() < 1e-2
    assert err.mean() < 1e-6
    assert np.abs(ours - truth).max() <= max(1.5 * np.abs(ref - truth).max(), 1e-5)


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("seconds", [7.0, 31.0])
def test_log_mel_matches_whisper_extractor(n_mels: int, seconds: float) -> None:
    audio = _audio((int(16000 * seconds),), seed=4)
    ref = _whisper_reference(audio, n_mels)
    ours = np.array(dsp.log_mel_spectrogram(audio, n_mels=n_mels))
    assert ours.shape == (3000, n_mels)
    _assert_whisper_close(ours, ref, _whisper_float64(audio, n_mels, 480000))


@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_unpadded_matches_extractor_without_padding(n_mels: int) -> None:
    audio = _audio((16000 * 5 + 77,), seed=5)
    ref = _whisper_reference(audio, n_mels, padding="longest")
    ours = np.array(dsp.log_mel_spectrogram(audio, n_mels=n_mels, pad_to=None))
    assert ours.shape == (len(audio) // 160, n_mels)
    _assert_whisper_close(ours, ref, _whisper_float64(audio, n_mels, None))


def test_log_mel_pad_mel_to() -> None:
    audio = _audio((16000 * 2,), seed=6)
    ours = np.array(dsp.log_mel_spectrogram(audio, pad_to=None, pad_mel_to=3000))
    assert ours.shape == (3000, 80)
    assert np.all(ours[200:] == 0.0)
    np.testing.assert_array_equal(ours[:200], np.array(dsp.log_mel_spectrogram(audio, pad_to=None)))
    assert dsp.log_mel_spectrogram(audio, pad_to=None, pad_mel_to=100).shape == (100, 80)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng: apt-get install espeak-ng")
@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_on_speech(n_mels: int) -> None:
    """On espeak-ng speech, padded to 30 s and unpadded."""
    from mlx_audio_lab.fixtures.speech import speech

    audio = speech("harbor")
    for pad_to, kw in ((480000, {}), (None, {"padding": "longest"})):
        ref = _whisper_reference(audio, n_mels, **kw)
        ours = np.array(dsp.log_mel_spectrogram(audio, n_mels=n_mels, pad_to=pad_to))
        _assert_whisper_close(ours, ref, _whisper_float64(audio, n_mels, pad_to))
