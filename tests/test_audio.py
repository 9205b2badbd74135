"""audio: loading with clear errors, downmix, soxr resampling, writing, the notebook player."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mlx_audio_lab.audio import AudioError, duration, load_audio, player, resample, save_audio


def _sine(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(audio: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[spec.argmax()])


# ----------------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match="not found") as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_not_audio_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not a RIFF file, just some text\n" * 10)
    with pytest.raises(AudioError, match="cannot read") as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty") as err:
        load_audio(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_in_file(tmp_path: Path, bad: float) -> None:
    audio = _sine(440, 16000, 0.1)
    audio[100] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or inf") as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_array_errors() -> None:
    with pytest.raises(AudioError, match="empty"):
        load_audio(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="NaN or inf"):
        load_audio(np.array([0.0, np.nan, 0.1], np.float32))
    with pytest.raises(AudioError, match="real numbers"):
        load_audio(np.array(["a", "b"]))
    assert issubclass(AudioError, ValueError)


# ----------------------------------------------------------------------------------------------- loading


def test_load_same_rate_is_exact(tmp_path: Path) -> None:
    audio = _sine(440, 16000)
    path = save_audio(tmp_path / "a.wav", audio, 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no resample / downmix warning
        out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    np.testing.assert_array_equal(out, audio)


def test_stereo_is_downmixed_with_warning(tmp_path: Path) -> None:
    left, right = _sine(440, 16000), _sine(1000, 16000, amp=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="downmixed 2 channels"):
        out = load_audio(path)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-7)


def test_resampling_file_warns_and_keeps_frequency(tmp_path: Path) -> None:
    path = tmp_path / "cd.wav"
    sf.write(path, _sine(1000, 44100, 2.0), 44100, subtype="FLOAT")
    with pytest.warns(UserWarning, match="resampled from 44100 Hz to 16000 Hz"):
        out = load_audio(path, 16000)
    assert len(out) == 32000
    assert abs(_peak_hz(out, 16000) - 1000) <= 0.5
    assert abs(np.sqrt(np.mean(out[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 1e-3  # level kept


def test_array_with_source_rate() -> None:
    with pytest.warns(UserWarning, match="resampled from 22050 Hz to 16000 Hz"):
        out = load_audio(_sine(300, 22050, 1.0), 16000, source_rate=22050)
    assert len(out) == 16000
    assert abs(_peak_hz(out, 16000) - 300) <= 1.0


def test_array_pcm16_and_channels_first() -> None:
    pcm = (np.array([0, 16384, -32768], dtype=np.int16))
    np.testing.assert_allclose(load_audio(pcm), [0.0, 0.5, -1.0])
    two = np.stack([_sine(440, 16000, 0.1), np.zeros(1600, np.float32)])  # (channels, T)
    with pytest.warns(UserWarning, match="downmixed"):
        out = load_audio(two)
    assert out.shape == (1600,)


@pytest.mark.parametrize("src, dst", [(44100, 16000), (16000, 24000), (22050, 16000), (48000, 44100)])
def test_resample_length_and_frequency(src: int, dst: int) -> None:
    audio = _sine(440, src, 1.5)
    out = resample(audio, src, dst)
    assert out.dtype == np.float32
    assert abs(len(out) - round(len(audio) * dst / src)) <= 1
    assert abs(_peak_hz(out, dst) - 440) <= 1.0
    assert resample(audio, src, src) is not None and len(resample(audio, src, src)) == len(audio)


# ----------------------------------------------------------------------------------------------- writing


def test_save_pcm16_round_trip(tmp_path: Path) -> None:
    audio = _sine(440, 16000)
    path = save_audio(tmp_path / "sub" / "pcm.wav", audio, 16000, subtype="PCM_16")
    assert sf.info(path).subtype == "PCM_16"
    np.testing.assert_allclose(load_audio(path), audio, atol=1 / 32768 + 1e-7)


def test_save_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="NaN or inf"):
        save_audio(tmp_path / "x.wav", np.array([0.0, np.nan], np.float32), 16000)


def test_duration_and_player() -> None:
    audio = _sine(440, 16000, 2.5)
    assert duration(audio, 16000) == pytest.approx(2.5)
    pytest.importorskip("IPython")
    widget = player(audio * 0.1, 16000)
    assert type(widget).__name__ == "Audio"
    assert widget.data[:4] == b"RIFF"


@pytest.mark.parametrize("src,dst", [(24_000, 16_000), (16_000, 24_000), (22_050, 16_000), (44_100, 24_000)])
def test_sinc_resample_equals_torchaudio(src, dst):
    """`sinc_resample` is torchaudio's default `Resample` (Hann-windowed sinc, width 6, rolloff 0.99)."""
    import torch
    import torchaudio.transforms as T

    from mlx_audio_lab.audio import sinc_resample

    x = np.random.default_rng(0).standard_normal(src + 17).astype(np.float32)
    want = T.Resample(src, dst)(torch.from_numpy(x)[None])[0].numpy()
    got = sinc_resample(x, src, dst)
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-6
    assert np.array_equal(sinc_resample(x, src, src), x)
