"""Voxtral port: parity with transformers on the fixture, greedy tokens on speech, layouts, quantization."""

from __future__ import annotations

import shutil

import mlx.core as mx
import numpy as np
import pytest
from helpers import checkpoint_error, params
from mlx.utils import tree_flatten

import mlx_audio_lab
from mlx_audio_lab import parity
from mlx_audio_lab.convert.save import save_model


@pytest.fixture(scope="module")
def voxtral_fixture():
    """Folder of the tiny random Voxtral in the Hugging Face layout."""
    from mlx_audio_lab.fixtures import build

    return build("voxtral")


@pytest.fixture(scope="module")
def reference():
    from mlx_audio_lab.models.stt.voxtral import reference

    return reference


@pytest.fixture(scope="module")
def recording(voxtral_fixture, tmp_path_factory):
    """The reference side on the "fox" clip, recorded once for the module."""
    return parity.record("voxtral", voxtral_fixture, tmp_path_factory.mktemp("voxtral") / "ref.safetensors")


@pytest.fixture(scope="module")
def report(voxtral_fixture, recording):
    return parity.run("voxtral", weights=voxtral_fixture, recording=recording)


def test_fixture_parity_every_layer(report):
    names = [r.name for r in report.layers]
    assert names[:2] == ["encoder.conv1", "encoder.conv2"] and "projector" in names
    assert names[-1] == "decoder.logits"
    for r in report.layers:
        assert r.max_abs <= 1e-4, r
    assert report.first_divergence is None
    assert report.outputs_match, report.outputs_note
    assert report.ok


def test_decoder_is_mlx_lm(voxtral_fixture):
    from mlx_lm.models import llama

    from mlx_audio_lab.models.stt.whisper.model import AudioEncoder

    model = mlx_audio_lab.load(voxtral_fixture)
    assert isinstance(model.language_model, llama.Model)
    assert isinstance(model.audio_tower, AudioEncoder)


def test_fixture_outputs_vary(voxtral_fixture, reference):
    """Constant outputs would make parity trivially true."""
    inputs = reference.parity_inputs(voxtral_fixture)
    acts, out = reference.run_mlx(voxtral_fixture, inputs, max_new_tokens=24)
    start = int(out["prompt_length"][0])
    assert len(set(out["tokens"][0, start:].tolist())) >= 5
    logits = acts["decoder.logits"][0]
    assert logits.std(axis=-1).min() > 0.1
    assert np.abs(np.diff(logits, axis=0)).max() > 0.1


@pytest.mark.parametrize("clip", ["numbers", "long"])
def test_greedy_tokens_match_reference_on_speech(voxtral_fixture, reference, espeak, clip):
    """Identical greedy ids to transformers' `generate` ("fox" is in the report); "long" (~50 s) spans two chunks."""
    inputs = reference.parity_inputs(voxtral_fixture, clip)
    if clip == "long":
        assert inputs["mel"].shape[0] == 2 and (inputs["prompt"] == 24).sum() == 750
    _, ref_out = reference.run_reference(voxtral_fixture, inputs, max_new_tokens=24, taps=False)
    _, mlx_out = reference.run_mlx(voxtral_fixture, inputs, max_new_tokens=24, taps=False)
    ok, note = reference.outputs_match(mlx_out, ref_out)
    assert ok, note


def test_audio_drives_the_output(voxtral_fixture, espeak):
    model = mlx_audio_lab.load(voxtral_fixture)
    from mlx_audio_lab.fixtures.speech import speech

    a = model.transcribe(speech("fox", 16000), max_new_tokens=16).tokens
    b = model.transcribe(speech("weather", 16000), max_new_tokens=16).tokens
    assert a != b


def test_prompts(voxtral_fixture):
    tok = mlx_audio_lab.load(voxtral_fixture).tokenizer
    ids = tok.ids
    p = tok.transcription_prompt(375, "en")
    assert p[:3] == [ids["<s>"], ids["[INST]"], ids["[BEGIN_AUDIO]"]] and p.count(ids["[AUDIO]"]) == 375
    assert p[-1] == ids["[TRANSCRIBE]"] and tok.decode(p) == "lang:en"
    q = tok.chat_prompt(375, "What is said?")
    assert q[-1] == ids["[/INST]"] and tok.decode(q) == "What is said?"


def test_transcribe_and_ask(voxtral_fixture, reference):
    from mlx_audio_lab.models.stt.voxtral.generate import greedy
    from mlx_audio_lab.results import Transcript

    model = mlx_audio_lab.load(voxtral_fixture)
    audio = (np.random.default_rng(1).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    t = model.transcribe(audio, max_new_tokens=12)
    assert isinstance(t, Transcript) and t.language == "en" and len(t.tokens) >= 1
    from mlx_audio_lab.models.stt.voxtral.generate import features

    mel = mx.array(features(audio))
    assert t.tokens == greedy(model, model.tokenizer.transcription_prompt(375, "en"), mel, 12)
    assert t.text == model.tokenizer.decode(t.tokens).strip()
    assert t.stats.token_count == len(t.tokens) and t.stats.audio_duration == 2.0
    assert isinstance(model.ask(audio, "What is said?", max_new_tokens=8), str)


def _transformers5_names(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The in-memory names of transformers 5 (written independently of the key map)."""
    out = {}
    for k, v in state.items():
        if k.startswith("language_model.model."):
            k = "model.language_model." + k[len("language_model.model."):]
        elif k == "language_model.lm_head.weight":
            k = "lm_head.weight"
        else:
            k = "model." + k
        out[k] = v
    return out


def test_every_layout_gives_identical_arrays(voxtral_fixture, tmp_path):
    from safetensors.numpy import load_file, save_file

    base = params(mlx_audio_lab.load(voxtral_fixture))
    t5 = tmp_path / "t5"
    shutil.copytree(voxtral_fixture, t5)
    save_file(_transformers5_names(load_file(str(t5 / "model.safetensors"))), str(t5 / "model.safetensors"))
    own = save_model(mlx_audio_lab.load(voxtral_fixture), tmp_path / "own")
    for folder in (t5, own):
        got = params(mlx_audio_lab.load(folder))
        assert got.keys() == base.keys()
        for k in base:
            np.testing.assert_array_equal(got[k], base[k], err_msg=f"{folder.name}: {k}")


def test_missing_key_is_named(voxtral_fixture, tmp_path):
    msg = checkpoint_error(voxtral_fixture, tmp_path,
                           lambda s: s.pop("language_model.model.layers.1.mlp.up_proj.weight"))
    assert "missing (1): language_model.model.layers.1.mlp.up_proj.weight" in msg


def test_unexpected_key_is_named(voxtral_fixture, tmp_path):
    msg = checkpoint_error(voxtral_fixture, tmp_path,
                           lambda s: s.update({"vision_tower.x": np.zeros(3, np.float32)}))
    assert "unexpected" in msg and "vision_tower.x" in msg


def test_misshaped_key_is_named(voxtral_fixture, tmp_path):
    def edit(s):
        s["multi_modal_projector.linear_1.weight"] = s["multi_modal_projector.linear_1.weight"][:, :64]
    msg = checkpoint_error(voxtral_fixture, tmp_path, edit)
    assert "mis-shaped: multi_modal_projector.linear_1.weight has shape (64, 64), the model expects (64, 256)" in msg


def test_divergence_is_located(voxtral_fixture, recording, tmp_path):
    """A corrupted weight in audio encoder layer 1: the report points at that layer first."""
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(voxtral_fixture, bad)
    state = load_file(str(bad / "model.safetensors"))
    state["audio_tower.layers.1.fc2.bias"] += 0.5
    save_file(state, str(bad / "model.safetensors"))
    r = parity.run("voxtral", weights=bad, recording=recording)
    assert not r.ok and r.first_divergence == "encoder.layers.1"
    assert all(x.ok for x in r.layers[:3])


def test_quantized_loads_and_runs(voxtral_fixture, tmp_path):
    """4- and 8-bit load (also from a saved MLX folder) and decode; the error vs fp32 orders by bits."""
    from mlx_audio_lab.models.stt.voxtral.analysis import quantization_errors

    for bits in (8, 4):
        q = mlx_audio_lab.load(voxtral_fixture, quantize=bits)
        assert q.quantization == {"bits": bits, "group_size": 64}
        again = mlx_audio_lab.load(save_model(q, tmp_path / f"q{bits}"))
        assert again.quantization == {"bits": bits, "group_size": 64}
        assert "QuantizedLinear" in type(again.language_model.model.layers[0].mlp.up_proj).__name__
    rows = {r["bits"]: r for r in quantization_errors(voxtral_fixture, (8, 4))}
    assert all(r["generated"] > 0 for r in rows.values())
    # random tiny weights (one 64-wide group per row) quantize badly; real checkpoints do far better
    assert 0 < rows[8]["logits_rel_err"] < 0.1 and rows[8]["top1_agreement"] > 0.9, rows
    assert rows[8]["logits_rel_err"] < rows[4]["logits_rel_err"] < 1.0, rows


def test_tekken_json_gives_the_same_prompt_ids(voxtral_fixture, tmp_path):
    """The hub repo ships `tekken.json` (mistral-common's format): converted, it tokenizes like tokenizer.json."""
    import base64
    import json

    from mlx_audio_lab.models.stt.voxtral.load import find_tokenizer
    from mlx_audio_lab.models.stt.voxtral.reference import N_SPECIAL

    names = json.loads((voxtral_fixture / "tokenizer.json").read_text())["added_tokens"]
    tekken = {
        "config": {"pattern": r"[^\r\n]+|\s+", "default_vocab_size": N_SPECIAL + 256,
                   "default_num_special_tokens": N_SPECIAL, "version": "v7"},
        "vocab": [{"rank": i, "token_bytes": base64.b64encode(bytes([i])).decode()} for i in range(256)],
        "special_tokens": [{"rank": t["id"], "token_str": t["content"], "is_control": True} for t in names],
    }
    folder = tmp_path / "tekken"
    folder.mkdir()
    (folder / "tekken.json").write_text(json.dumps(tekken))
    tek, hf = find_tokenizer(folder), find_tokenizer(voxtral_fixture)
    assert tek.ids == hf.ids
    assert tek.chat_prompt(3, "Who speaks? ünïcode") == hf.chat_prompt(3, "Who speaks? ünïcode")
    assert tek.decode(tek.encode("lang:fr")) == "lang:fr"


def test_attention_weights_match_reference(voxtral_fixture, reference):
    """The explicit decoder attention (for plots) equals transformers' eager `output_attentions`."""
    import torch
    from transformers import VoxtralForConditionalGeneration

    inputs = reference.parity_inputs(voxtral_fixture)
    ref = VoxtralForConditionalGeneration.from_pretrained(voxtral_fixture, attn_implementation="eager").eval()
    with torch.no_grad():
        out = ref(input_ids=torch.from_numpy(inputs["prompt"]),
                  input_features=torch.from_numpy(inputs["mel"]).transpose(1, 2), output_attentions=True)
    model = mlx_audio_lab.load(voxtral_fixture)
    x = model.embed_inputs(mx.array(inputs["prompt"]), model.embed_audio(mx.array(inputs["mel"])))
    for layer in (0, 1):
        got = np.array(model.attention_weights(x, layer))
        np.testing.assert_allclose(got, out.attentions[layer].numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("clip", ["fox", "long"])
def test_features_match_the_processor(espeak, clip):
    """VoxtralProcessor's features: audio padded to a multiple of 30 s, one log-mel, 3000-frame chunks."""
    from transformers import WhisperFeatureExtractor

    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.models.stt.voxtral.generate import features

    wav = speech(clip, 16000)
    fe = WhisperFeatureExtractor(feature_size=128)
    ref = fe(wav, sampling_rate=16000, padding=True, truncation=False, pad_to_multiple_of=480000,
             return_tensors="np")["input_features"]
    ref = ref.reshape(128, -1, 3000).transpose(1, 2, 0)  # the processor's chunking, then channels-last
    got = features(wav)
    assert got.shape == ref.shape == (-(-len(wav) // 480000), 3000, 128)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)  # float32 MLX vs numpy float64 STFT


def test_shipped_mini_config_builds_the_3b_shapes():
    """config.json of mistralai/Voxtral-Mini-3B-2507 (keys this port reads) -> parameter shapes of the hub file."""
    from mlx_audio_lab.models.stt.voxtral import Voxtral, VoxtralConfig

    cfg = VoxtralConfig.from_dict({
        "model_type": "voxtral", "audio_token_id": 24, "hidden_size": 3072, "projector_hidden_act": "gelu",
        "audio_config": {"activation_function": "gelu", "head_dim": 64, "hidden_size": 1280,
                         "intermediate_size": 5120, "max_source_positions": 1500, "num_attention_heads": 20,
                         "num_hidden_layers": 32, "num_key_value_heads": 20, "num_mel_bins": 128},
        "text_config": {"attention_bias": False, "head_dim": 128, "hidden_act": "silu", "hidden_size": 3072,
                        "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False,
                        "num_attention_heads": 32, "num_hidden_layers": 30, "num_key_value_heads": 8,
                        "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 100000000.0,
                        "sliding_window": None, "vocab_size": 131072},
    })
    assert (cfg.stack, cfg.tokens_per_chunk) == (4, 375)
    shapes = {k: tuple(v.shape) for k, v in tree_flatten(Voxtral(cfg).parameters())}  # lazy: never evaluated
    assert shapes["audio_tower.conv1.weight"] == (1280, 3, 128)
    assert shapes["audio_tower.layers.31.fc1.weight"] == (5120, 1280)
    assert shapes["multi_modal_projector.linear_1.weight"] == (3072, 5120)
    assert shapes["language_model.model.layers.29.self_attn.k_proj.weight"] == (1024, 3072)
    assert shapes["language_model.lm_head.weight"] == (131072, 3072)
    assert len([k for k in shapes if k.startswith("language_model.model.layers.0.")]) == 9
