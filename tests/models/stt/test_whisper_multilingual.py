"""Multilingual Whisper (openai/whisper-tiny's id layout and large-v3's): language detection, the language and
task tokens, translation, against transformers' `generate` on fixtures built by transformers."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.models.stt.whisper.decoding import detect_language
from mlx_audio_lab.models.stt.whisper.transcribe import features, window

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module", params=["multilingual", "large-v3"])
def pair(request):
    from mlx_audio_lab.fixtures import build
    from mlx_audio_lab.models.stt.whisper import load_model, reference

    folder = build("whisper", request.param)
    return folder, reference.load_reference(folder), load_model(folder)


def clip(seconds: float = 4, seed: int = 2) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def test_control_tokens_equal_transformers_tokenizer(pair):
    from transformers import WhisperTokenizer

    folder, hf, model = pair
    ref = WhisperTokenizer.from_pretrained(folder)
    tok = model.tokenizer
    assert tok.multilingual and len(tok.language_ids) == (100 if model.config.vocab_size >= 51866 else 99)
    for language, task in (("fr", "translate"), ("de", "transcribe"), ("en", "transcribe")):
        ref.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
        assert tok.sot_sequence(language, task, timestamps=False) == ref.prefix_tokens
    gen = json.loads((folder / "generation_config.json").read_text())
    assert tok.no_timestamps == gen["no_timestamps_token_id"] and tok.sot_prev == gen["prev_sot_token_id"]
    assert model.config.decoder_start_token_id == tok.sot and model.config.eos_token_id == tok.eot


def test_language_detection_equal_transformers(pair):
    folder, hf, model = pair
    mel = window(features(clip(), model.config.num_mel_bins), 0, model.config.n_frames)
    with torch.no_grad():
        want = int(hf.detect_language(torch.from_numpy(mel).transpose(1, 2))[0])
    code, probs = detect_language(model, model.embed_audio(mx.array(mel)))
    assert model.tokenizer.language_ids[code] == want
    assert abs(sum(probs.values()) - 1) < 1e-4 and max(probs.values()) < 1  # a distribution, not one-hot


@pytest.mark.parametrize("language, task", [("fr", "translate"), ("de", "transcribe"), (None, "transcribe")])
def test_transcribe_equal_transformers(pair, language, task):
    """Fixed or detected language, transcribe or translate: transformers' segments token for token."""
    folder, hf, model = pair
    wav = clip(6, seed=9)
    mel = features(wav, model.config.num_mel_bins)
    kw = dict(task=task, **({"language": language} if language else {}))
    with torch.no_grad():
        out = hf.generate(torch.from_numpy(mel.T[None].copy()), return_timestamps=True, return_segments=True,
                          return_dict_in_generate=True, max_new_tokens=30, **kw)
    want = [s["tokens"].tolist() for s in out["segments"][0]]
    tr = model.transcribe(wav, beam_size=1, language=language, task=task, max_new_tokens=30)
    assert [s.tokens for s in tr.segments] == want and want
    if language is None:
        detected = int(hf.detect_language(torch.from_numpy(window(mel, 0)).transpose(1, 2))[0])
        assert model.tokenizer.language_ids[tr.language] == detected
