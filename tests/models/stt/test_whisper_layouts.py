"""Every Whisper size's checkpoint layout loads: fixtures of each structural shape (multilingual vocabularies,
128 mels, turbo's and distil-whisper's few decoder layers), in the Hugging Face and mlx-community layouts,
with teacher-forced logits and alignment heads equal to transformers'."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.models.stt.whisper import load_model
from mlx_audio_lab.models.stt.whisper.load import export_mlx_community
from mlx_audio_lab.models.stt.whisper.transcribe import features, window

torch = pytest.importorskip("torch")
SIZES = ["multilingual", "large-v3", "large-v3-turbo", "distil-large-v3"]


@pytest.fixture(scope="module", params=SIZES)
def sized(request):
    from mlx_audio_lab.fixtures import build
    from mlx_audio_lab.models.stt.whisper import reference

    folder = build("whisper", request.param)
    return request.param, folder, reference.load_reference(folder)


def logits_both(folder, hf, model) -> tuple[np.ndarray, np.ndarray]:
    cfg = model.config
    wav = (np.random.default_rng(0).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    mel = window(features(wav, cfg.num_mel_bins), 0)  # (1, 3000, n_mels)
    tokens = [cfg.decoder_start_token_id, 400, 1000, 2000, cfg.vocab_size - 1]
    with torch.no_grad():
        want = hf(input_features=torch.from_numpy(mel).transpose(1, 2), decoder_input_ids=torch.tensor([tokens]))
    return np.array(model(mx.array(mel), mx.array([tokens]))), want.logits.numpy()


def test_hf_layout_logits_equal_transformers(sized):
    size, folder, hf = sized
    model = load_model(folder)
    cfg = json.loads((folder / "config.json").read_text())
    assert (model.config.num_mel_bins, model.config.vocab_size) == (cfg["num_mel_bins"], cfg["vocab_size"])
    assert len(model.decoder.layers) == cfg["decoder_layers"] and len(model.encoder.layers) == cfg["encoder_layers"]
    assert model.config.is_multilingual
    got, want = logits_both(folder, hf, model)
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-4)
    assert want.std() > 0.1
    heads = hf.generation_config.alignment_heads
    assert model.alignment_heads == [tuple(h) for h in heads] and heads


def test_mlx_community_layout_loads_back_equal(sized, tmp_path):
    size, folder, hf = sized
    model = load_model(folder)
    out = export_mlx_community(model, tmp_path / size)
    again = load_model(out)
    assert json.loads((out / "config.json").read_text())["n_mels"] == model.config.num_mel_bins
    got, want = logits_both(out, hf, again)
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-4)


def test_128_mel_features_equal_transformers_extractor():
    from transformers import WhisperFeatureExtractor

    wav = (np.random.default_rng(1).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    want = WhisperFeatureExtractor(feature_size=128)(wav, sampling_rate=16000, return_tensors="np").input_features
    np.testing.assert_allclose(features(wav, 128).T, want[0], atol=2e-4)
