"""MLX community layouts of wav2vec2, Parakeet and Voxtral: fixture -> export -> load gives identical tokens
and equal logits (also quantized), and mlx-audio's own classes load the exported folders to the same output."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab.convert.community import community_quantization
from mlx_audio_lab.fixtures import build

PARAKEETS = ["parakeet_ctc", "parakeet_rnnt", "parakeet_tdt"]


def max_abs(a, b) -> float:
    return float(np.abs(np.array(a, dtype=np.float32) - np.array(b, dtype=np.float32)).max())


def mlx_audio_load(folder, **kwargs):
    """mlx-audio's own loader (sanitize, per-layer quantization, strict weights), or a clean skip."""
    stt = pytest.importorskip("mlx_audio.stt")
    return stt.load(str(folder), strict=True, **kwargs)


# --- wav2vec2: mlx-audio reads the Hugging Face files (mms = Wav2Vec2ForCTC); quantized folders add scales.

@pytest.fixture(scope="module")
def wave():
    return mx.random.normal((1, 16000), key=mx.random.key(0))


@pytest.mark.parametrize("size", ["tiny", "tiny-large"])
@pytest.mark.parametrize("bits", [None, 8, 4])
def test_wav2vec2_export_load(size, bits, wave, tmp_path):
    from mlx_audio_lab.models.stt.wav2vec2 import export_mlx_community, load_model
    from mlx_audio_lab.models.stt.wav2vec2.load import detect_layout

    model = load_model(build("wav2vec2", size), quantize=bits)
    out = export_mlx_community(model, tmp_path / "community")
    config = json.loads((out / "config.json").read_text())
    assert detect_layout(config) == ("mlx-community" if bits else "hf")
    again = mlx_audio_lab.load(out)
    assert again.quantization == (community_quantization(config) if bits else None)
    a, b = np.array(model(wave)), np.array(again(wave))
    assert a.std() > 0.1 and len(set(a.argmax(-1)[0].tolist())) >= 3  # varied outputs
    np.testing.assert_array_equal(a, b)
    theirs = mlx_audio_load(out, model_type="mms")
    c = np.array(theirs(wave))
    assert max_abs(a, c) < 2e-5 * np.abs(a).max()
    assert (a.argmax(-1) == c.argmax(-1)).all()


# --- Parakeet: NeMo config + mlx-audio (NeMo) names, channels-last convs, fused LSTM bias.

@pytest.fixture(scope="module", params=PARAKEETS)
def parakeet_folder(request):
    return build(request.param)


@pytest.mark.parametrize("bits", [None, 8])
def test_parakeet_export_load(parakeet_folder, bits, tmp_path, espeak):
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.models.stt.parakeet import export_mlx_community, load_model
    from mlx_audio_lab.models.stt.parakeet.load import detect_layout
    from mlx_audio_lab.models.stt.parakeet.transcribe import decode

    model = load_model(parakeet_folder, quantize=bits)
    out = export_mlx_community(model, tmp_path / "community")
    (out / "tokenizer.json").unlink()  # community folders carry the vocabulary in config.json only
    config = json.loads((out / "config.json").read_text())
    del config["model_type"]  # NeMo dumps have none: the registry knows the layout by its keys
    (out / "config.json").write_text(json.dumps(config))
    assert detect_layout(json.loads((out / "config.json").read_text())) == "mlx-community"
    again = mlx_audio_lab.load(out)
    assert again.config.model_type == model.config.model_type
    assert again.quantization == model.quantization
    feats = mx.random.normal((1, 200, 80), key=mx.random.key(0))
    a, b = np.array(model(feats)), np.array(again(feats))
    assert a.std() > 0.1
    # fused LSTM bias and (8-bit CTC) the dequantized conv head only reorder float sums
    assert max_abs(a, b) <= 1e-5 * np.abs(a).max()
    wav = speech("fox", 16000)
    tokens = [t.id for t in decode(model, wav).tokens]
    assert len(set(tokens)) >= 2
    assert [t.id for t in decode(again, wav).tokens] == tokens
    assert again.transcribe(wav).text == model.transcribe(wav).text  # from the config's vocabulary


def test_parakeet_mlx_audio_loads_export(parakeet_folder, tmp_path, espeak):
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.models.stt.parakeet import export_mlx_community, load_model
    from mlx_audio_lab.models.stt.parakeet.features import log_mel
    from mlx_audio_lab.models.stt.parakeet.transcribe import decode

    model = load_model(parakeet_folder)
    theirs = mlx_audio_load(export_mlx_community(model, tmp_path / "community"), model_type="parakeet")
    wav = speech("fox", 16000)
    feats, n = log_mel(wav, model.config.front_end)
    x = feats[None, :n]  # valid frames only: mlx-audio masks no padding
    ours_enc, _ = model.encoder(x, mx.array([n]))
    their_enc, _ = theirs.encoder(x)
    assert max_abs(ours_enc, their_enc) < 1e-5 * np.abs(np.array(ours_enc)).max()
    ours = decode(model, wav)
    if model.config.decoder == "ctc":  # its CTC decode drops special pieces: compare log-probs and best path
        logits = model.ctc_head(ours_enc)
        mine = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))[0]
        their = np.array(theirs.decoder(their_enc))[0]
        assert max_abs(mine, their) < 1e-4
        assert (mine.argmax(-1) == their.argmax(-1)).all()
    else:
        result = theirs.decode(x)[0]
        their_ids = [t.id for s in result.sentences for t in s.tokens]
        assert their_ids == [t.id for t in ours.tokens] and len(set(their_ids)) >= 2


def test_parakeet_folder_quantized_by_mlx_audio(tmp_path, espeak):
    """A folder that mlx-audio's converter quantized (its own predicate and config block) loads here."""
    convert = pytest.importorskip("mlx_audio.convert")
    from mlx_audio_lab.models.stt.parakeet import export_mlx_community, load_model

    model = load_model(build("parakeet_tdt"))
    src = export_mlx_community(model, tmp_path / "fp32")
    convert.convert(str(src), str(tmp_path / "q4"), quantize=True, q_bits=4, q_group_size=64,
                    model_domain="stt")
    q4 = load_model(tmp_path / "q4")
    assert q4.quantization == {"bits": 4, "group_size": 64}
    feats = mx.random.normal((1, 200, 80), key=mx.random.key(0))
    a, b = np.array(model(feats)), np.array(q4(feats))
    assert 0 < max_abs(a, b) < 0.2 * np.abs(a).max()


# --- Voxtral: hub names, channels-last convs; mlx-audio quantizes the language model only.

@pytest.fixture(scope="module")
def voxtral_inputs():
    from mlx_audio_lab.models.stt.voxtral.generate import features

    audio = (np.random.default_rng(3).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    model = mlx_audio_lab.load(build("voxtral"))
    return audio, mx.array(features(audio)), mx.array([model.tokenizer.transcription_prompt(375, "en")])


@pytest.mark.parametrize("bits", [None, 8, 4])
def test_voxtral_export_load(bits, voxtral_inputs, tmp_path):
    from mlx_audio_lab.convert.readers import read_state_dict
    from mlx_audio_lab.models.stt.voxtral import export_mlx_community, load_model
    from mlx_audio_lab.models.stt.voxtral.generate import greedy
    from mlx_audio_lab.models.stt.voxtral.load import detect_layout

    _, mel, prompt = voxtral_inputs
    model = load_model(build("voxtral"), quantize=bits)
    out = export_mlx_community(model, tmp_path / "community")
    again = mlx_audio_lab.load(out)
    assert detect_layout(json.loads((out / "config.json").read_text()), read_state_dict(out)[0]) == "mlx-community"
    assert again.quantization == model.quantization
    a, b = np.array(model(mel, prompt)), np.array(again(mel, prompt))
    assert a.std() > 0.1
    if bits is None:
        np.testing.assert_array_equal(a, b)
    else:  # the audio tower is stored dequantized (mlx-audio keeps it in float)
        assert max_abs(a, b) < 1e-3 * np.abs(a).max()
    tokens = greedy(model, prompt[0].tolist(), mel, 16)
    assert len(set(tokens)) >= 3 and greedy(again, prompt[0].tolist(), mel, 16) == tokens
    theirs = mlx_audio_load(out)
    np.testing.assert_allclose(np.array(theirs(prompt, input_features=mel)), b, atol=1e-5 * np.abs(b).max(), rtol=0)


def test_voxtral_folder_quantized_by_mlx_audio(voxtral_inputs, tmp_path):
    """mlx-audio's converter quantizes only the language model and projector: the per-layer scales decide."""
    convert = pytest.importorskip("mlx_audio.convert")
    from mlx_audio_lab.models.stt.voxtral import export_mlx_community, load_model

    _, mel, prompt = voxtral_inputs
    model = load_model(build("voxtral"))
    src = export_mlx_community(model, tmp_path / "fp32")
    convert.convert(str(src), str(tmp_path / "q8"), quantize=True, q_bits=8, q_group_size=64, model_domain="stt")
    q8 = load_model(tmp_path / "q8")
    assert q8.quantization == {"bits": 8, "group_size": 64}
    assert "scales" not in str(q8.audio_tower.parameters()) and hasattr(q8.multi_modal_projector.linear_1, "scales")
    a, b = np.array(model(mel, prompt)), np.array(q8(mel, prompt))
    assert 0 < max_abs(a, b) < 0.05 * np.abs(a).max()


def test_bad_quantization_mode_is_named():
    with pytest.raises(ValueError, match="mxfp4"):
        community_quantization({"quantization": {"bits": 4, "group_size": 32, "mode": "mxfp4"}})
