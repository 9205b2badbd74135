"""Batched Whisper transcription: several clips in one padded batch give the tokens of one-by-one decoding."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.models.stt.whisper.batch import greedy_batch, transcribe_batch
from mlx_audio_lab.models.stt.whisper.decoding import greedy
from mlx_audio_lab.models.stt.whisper.transcribe import features, window


@pytest.mark.parametrize("timestamps", [False, True])
def test_fixture_lockstep_greedy_equal_one_by_one(whisper_fixture, timestamps):
    from mlx_audio_lab.models.stt.whisper import load_model

    model = load_model(whisper_fixture)
    rng = np.random.default_rng(5)
    wavs = [(rng.standard_normal(16000 * s) * 0.1).astype(np.float32) for s in (2, 5, 9)]
    mels = np.concatenate([window(features(w), 0) for w in wavs])
    prompt = [50257] if timestamps else [50257, 50362]
    model.config.eos_token_id, saved = 2835, model.config.eos_token_id  # a token random weights do emit
    try:
        batch = greedy_batch(model, model.embed_audio(mx.array(mels)), prompt, 30, timestamps)
        single = [greedy(model, model.embed_audio(mx.array(mels[i : i + 1])), prompt, 30, timestamps)
                  for i in range(3)]
    finally:
        model.config.eos_token_id = saved
    assert batch == single
    assert len({len(b) for b in batch}) > 1 or all(len(b) == 30 for b in batch)


@pytest.mark.slow
def test_real_batch_equal_one_by_one(espeak):
    """Real tiny.en, three clips of different lengths in one batch: the same transcripts as one by one."""
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.models.stt.whisper import load_model
    from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

    model = load_model(real_hf_folder())
    clips = [speech(c) for c in ("fox", "harbor", "numbers")]
    batch = transcribe_batch(model, clips, beam_size=1, word_timestamps=True)
    for clip, got in zip(clips, batch):
        want = model.transcribe(clip, beam_size=1, word_timestamps=True)
        assert got.tokens == want.tokens and got.text == want.text
        assert [(s.start, s.end) for s in got.segments] == [(s.start, s.end) for s in want.segments]
        assert [(w.word, w.start, w.end) for s in got.segments for w in s.words] == [
            (w.word, w.start, w.end) for s in want.segments for w in s.words]
    assert "lazy dog" in batch[0].text and "harbor" in batch[1].text.lower()  # greedy hears "roundfire"
