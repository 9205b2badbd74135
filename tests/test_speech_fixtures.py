"""Speech fixtures: espeak-ng clips, cached at 22.05 kHz, loaded at 16 kHz."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mlx_audio_lab.fixtures import speech as speech_mod
from mlx_audio_lab.fixtures.speech import CLIPS, espeak_available, speech, speech_clip

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)


def _speech_span(audio: np.ndarray, sr: int) -> float:
    """Seconds from the first to the last sample above -40 dBFS."""
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    return (loud[-1] - loud[0]) / sr


def test_clip_texts() -> None:
    short = [k for k in CLIPS if k != "long"]
    assert len(short) >= 5 and "long" in CLIPS
    assert CLIPS["fox"] == "The quick brown fox jumps over the lazy dog."
    assert espeak_available() == (shutil.which("espeak-ng") is not None)


@needs_espeak
def test_short_clips_are_3_to_6_seconds() -> None:
    for name in CLIPS:
        if name == "long":
            continue
        path = speech_clip(name)
        info = sf.info(path)
        assert info.samplerate == 22050 and info.channels == 1
        assert 3.0 <= info.duration <= 6.0, (name, info.duration)


@needs_espeak
def test_long_clip_is_40_to_50_seconds_of_speech() -> None:
    audio = speech("long")
    assert 40.0 <= _speech_span(audio, 16000) <= 50.0


@needs_espeak
def test_speech_is_cached_and_resampled_quietly() -> None:
    path = speech_clip("fox")
    stamp = path.stat().st_mtime_ns
    assert speech_clip("fox") == path and path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(sf.read(speech_clip(CLIPS["fox"]))[0], sf.read(path)[0])  # name or text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audio = speech("fox")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - round(sf.info(path).frames * 16000 / 22050)) <= 1
    assert 0.1 < np.abs(audio).max() <= 1.0
    assert len(speech("fox", sample_rate=24000)) > len(audio)


@needs_espeak
def test_arbitrary_text_and_voice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLX_AUDIO_LAB_CACHE", str(tmp_path))
    slow = speech_clip("Seven silver spoons.", rate=120)
    fast = speech_clip("Seven silver spoons.", rate=200)
    assert slow != fast and slow.parent == tmp_path / "speech"
    assert sf.info(slow).duration > sf.info(fast).duration


def test_missing_espeak_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLX_AUDIO_LAB_CACHE", str(tmp_path))
    monkeypatch.setattr(speech_mod.shutil, "which", lambda name: None)
    assert not espeak_available()
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        speech_clip("Nobody will say this.")
