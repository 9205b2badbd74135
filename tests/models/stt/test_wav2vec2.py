"""Wav2Vec2-CTC port: parity with transformers on both fixture variants, greedy CTC ids, layouts, errors."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_audio_lab
from mlx_audio_lab import parity
from mlx_audio_lab.convert import CheckpointError
from mlx_audio_lab.convert.save import save_model
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.layers.ctc import CTCToken, collapse, greedy_path
from mlx_audio_lab.models.stt.wav2vec2 import load_model, reference

SIZES = ["tiny", "tiny-large"]
CLIPS = ["fox", "harbor", "numbers", "weather", "long"]


def params(model) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in tree_flatten(model.parameters())}


@pytest.fixture(scope="module", params=SIZES)
def folder(request):
    return build("wav2vec2", request.param)


@pytest.fixture(scope="module")
def both():
    """(MLX model, torch model, folder) for each fixture variant, loaded once."""
    out = {}
    for size in SIZES:
        f = build("wav2vec2", size)
        out[size] = (load_model(f), reference.load_reference(f), f)
    return out


def test_ctc_collapse():
    path = [0, 5, 5, 0, 5, 4, 4, 0, 0, 7]
    assert collapse(path, blank=0) == [CTCToken(5, 1, 3), CTCToken(5, 4, 5), CTCToken(4, 5, 7), CTCToken(7, 9, 10)]
    assert collapse([], 0) == [] and collapse([0, 0], 0) == []
    assert greedy_path(np.eye(3)[[2, 0, 1]]).tolist() == [2, 0, 1]


def test_parity_every_tap(folder, espeak):
    report = parity.run("wav2vec2", weights=folder)
    names = [r.name for r in report.layers]
    assert names[0] == "feature_encoder.conv_layers.0" and names[-1] == "lm_head"
    for r in report.layers:
        assert r.max_abs <= 1e-4, r
    assert report.ok and report.first_divergence is None
    assert report.outputs_match, report.outputs_note


def test_fixture_emits_varied_paths(folder, espeak):
    """A constant or all-blank head would make CTC parity trivially true."""
    _, out = reference.run_mlx(folder, reference.parity_inputs(folder, "fox"))
    ids = out["ids"][0]
    assert len(set(ids.tolist())) >= 5
    assert 0.1 < (ids == 0).mean() < 0.9  # blanks, but not only blanks
    assert (ids == reference.VOCAB.index("|")).any()  # words are delimited


@pytest.mark.parametrize("size", SIZES)
def test_greedy_ids_identical_to_transformers(both, size, espeak):
    import torch
    from transformers import Wav2Vec2CTCTokenizer

    model, ref, f = both[size]
    tok = Wav2Vec2CTCTokenizer(str(f / "vocab.json"))
    for clip in CLIPS:
        x = reference.parity_inputs(f, clip)["input_values"]
        with torch.no_grad():
            want = ref(torch.from_numpy(x)).logits.argmax(-1)[0].numpy()
        got = np.array(model(mx.array(x)).argmax(-1))[0]
        assert got.shape == want.shape, clip
        assert (got == want).all(), f"{clip}: {(got != want).sum()} of {want.size} frames differ"
        text = tok.decode(want.tolist()).replace("<s>", "").replace("</s>", "")
        assert model.vocab.decode_path(got) == " ".join(text.split()), clip


def test_transcribe_words_are_timed(both, espeak):
    from mlx_audio_lab.fixtures.speech import speech

    model = both["tiny"][0]
    audio = speech("harbor", 16000)
    t = model.transcribe(audio)
    assert len(t.segments) >= 3
    assert t.text == " ".join(s.text for s in t.segments)
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(s.start < s.end for s in t.segments)
    assert all(a.end <= b.start for a, b in zip(t.segments, t.segments[1:]))
    assert t.segments[-1].end <= len(audio) / 16000 + 0.02
    assert t.stats.audio_duration == pytest.approx(len(audio) / 16000) and t.real_time_factor > 0
    assert t.tokens and t.language is None
    whole = model.transcribe(audio, timestamps=False, progress=False)
    assert whole.text == t.text and len(whole.segments) == 1


def test_cli_transcribe(espeak, capsys):
    from mlx_audio_lab.cli import main
    from mlx_audio_lab.fixtures.speech import speech_clip

    assert main(["transcribe", "--model", str(build("wav2vec2")), str(speech_clip("fox"))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("[")


def test_legacy_weight_norm_names_and_pickle_load_identically(tmp_path):
    """Old checkpoints (facebook/wav2vec2-base-960h) store weight_g / weight_v in pytorch_model.bin."""
    import torch
    from safetensors.numpy import load_file

    f = build("wav2vec2", "tiny")
    state = load_file(str(f / "model.safetensors"))
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in legacy)
    old = tmp_path / "old"
    old.mkdir()
    for name in ("config.json", "vocab.json", "preprocessor_config.json"):
        shutil.copy(f / name, old / name)
    torch.save({k: torch.from_numpy(v) for k, v in legacy.items()}, old / "pytorch_model.bin")
    base, got = params(load_model(f)), params(mlx_audio_lab.load(old))
    assert got.keys() == base.keys()
    for k in base:
        np.testing.assert_array_equal(got[k], base[k], err_msg=k)


def test_mlx_layout_round_trip(tmp_path):
    f = build("wav2vec2", "tiny-large")
    own = save_model(load_model(f), tmp_path / "own")
    a, b = params(load_model(f)), params(mlx_audio_lab.load(own))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert mlx_audio_lab.load(own).vocab is not None


def _broken(tmp_path, edit) -> str:
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(build("wav2vec2", "tiny"), bad)
    state = load_file(str(bad / "model.safetensors"))
    edit(state)
    save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(CheckpointError) as e:
        load_model(bad)
    return str(e.value)


def test_missing_key_is_named(tmp_path):
    msg = _broken(tmp_path, lambda s: s.pop("wav2vec2.encoder.layers.1.attention.k_proj.bias"))
    assert "missing (1): wav2vec2.encoder.layers.1.attention.k_proj.bias" in msg


def test_unexpected_key_is_named(tmp_path):
    msg = _broken(tmp_path, lambda s: s.update({"wav2vec2.extra.thing": np.zeros(3, np.float32)}))
    assert "unexpected" in msg and "wav2vec2.extra.thing" in msg


def test_misshaped_key_is_named(tmp_path):
    def edit(s):
        s["lm_head.bias"] = s["lm_head.bias"][:10]
    msg = _broken(tmp_path, edit)
    assert "mis-shaped: lm_head.bias has shape (10,), the model expects (32,)" in msg


def test_adapter_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(build("wav2vec2", "tiny"), bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "add_adapter": True}))
    with pytest.raises(ValueError, match="adapters"):
        load_model(bad)


@pytest.mark.parametrize("size", SIZES)
def test_quantized_8bit_runs_close_to_fp32(size, tmp_path):
    f = build("wav2vec2", size)
    fp = load_model(f)
    q8 = mlx_audio_lab.load(save_model(load_model(f, quantize=8), tmp_path / "q8"))
    assert q8.quantization == {"bits": 8, "group_size": 64}
    assert any("scales" in k for k in params(q8))
    x = mx.random.normal((1, 16000), key=mx.random.key(0))
    a, b = np.array(fp(x)), np.array(q8(x))
    rel = np.abs(a - b).max() / np.abs(a).max()
    agree = (a.argmax(-1) == b.argmax(-1)).mean()
    print(f"{size}: 8-bit logits relative error {rel:.2e}, argmax agreement {agree:.3f}")
    assert 0 < rel < 0.05
    assert agree > 0.8
