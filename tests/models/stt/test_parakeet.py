"""Parakeet port (CTC, RNN-T, TDT): parity with transformers on fixtures, identical greedy labels on speech,
checkpoint errors, the MLX layout, 8-bit quantization, chunked long-form audio and timestamps."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import checkpoint_error
from mlx.utils import tree_flatten

import mlx_audio_lab  # noqa: F401  (OpenBLAS before MLX)
from mlx_audio_lab import parity
from mlx_audio_lab.convert.save import save_model
from mlx_audio_lab.models.stt.parakeet import load_model, reference
from mlx_audio_lab.models.stt.parakeet.transcribe import decode, decode_long

TYPES = ["parakeet_ctc", "parakeet_rnnt", "parakeet_tdt"]
CLIPS = ["numbers", "names", "long"]  # and "fox" in the parity run


@pytest.fixture(scope="module", params=TYPES)
def folder(request):
    from mlx_audio_lab.fixtures import build

    return build(request.param)


@pytest.fixture(scope="module")
def model(folder):
    return load_model(folder)


def test_fixture_parity_every_layer(folder):
    report = parity.run(reference.model_type_of(folder), weights=folder)
    assert [r.name for r in report.layers][:2] == ["features", "encoder.subsampling"]
    for r in report.layers:
        assert r.max_abs <= 1e-4, r
    assert report.outputs_match, report.outputs_note
    assert report.ok


@pytest.mark.parametrize("clip", CLIPS)
def test_identical_labels_on_speech(folder, clip, espeak):
    inputs = reference.parity_inputs(folder, clip)
    _, ref_out = reference.run_reference(folder, inputs)
    _, mlx_out = reference.run_mlx(folder, inputs)
    same, note = reference.outputs_match(mlx_out, ref_out)
    assert same, note
    blank = load_model(folder).config.blank
    emitted = [t for t in ref_out["tokens"][0].tolist() if t != blank]
    assert len(set(emitted)) >= 2  # not constant


def test_outputs_vary(model, espeak):
    from mlx_audio_lab.fixtures import speech

    d = decode(model, speech.speech("harbor", 16000))
    assert len({t.id for t in d.tokens}) >= 2
    if d.steps is not None and model.config.decoder == "tdt":
        assert len(set(d.steps.durations[1:])) >= 2


def test_mlx_layout_round_trip(model, folder, tmp_path):
    again = load_model(save_model(model, tmp_path / "own"))
    a, b = dict(tree_flatten(model.parameters())), dict(tree_flatten(again.parameters()))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.array(a[k]), np.array(b[k]), err_msg=k)


def test_bad_keys_are_named(folder, tmp_path):
    msg = checkpoint_error(folder, tmp_path, lambda s: s.pop("encoder.layers.1.self_attn.bias_u"), load_model)
    assert "missing (1): encoder.layers.1.self_attn.bias_u" in msg
    msg = checkpoint_error(folder, tmp_path / "2", lambda s: s.update({"encoder.extra": np.zeros(3, np.float32)}),
                           load_model)
    assert "unexpected" in msg and "encoder.extra" in msg

    def shrink(s):
        s["encoder.layers.0.feed_forward1.linear1.bias"] = s["encoder.layers.0.feed_forward1.linear1.bias"][:10]
    msg = checkpoint_error(folder, tmp_path / "3", shrink, load_model)
    assert "mis-shaped: encoder.layers.0.feed_forward1.linear1.bias has shape (10,)" in msg


def test_quantized_8bit_loads_and_runs(model, folder, tmp_path):
    import mlx.core as mx

    q8 = load_model(save_model(load_model(folder, quantize=8), tmp_path / "q8"))
    assert q8.quantization == {"bits": 8, "group_size": 64}
    feats = mx.random.normal((1, 200, 80), key=mx.random.key(0))
    a, b = np.array(model(feats)), np.array(q8(feats))
    rel = np.abs(a - b).max() / np.abs(a).max()
    assert 0 < rel < 0.05
    assert q8.transcribe(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1) is not None


def test_chunked_long_form(model, espeak):
    from mlx_audio_lab.fixtures import speech

    wave = speech.speech("long", 16000)
    whole = [(t.id, t.start) for t in decode(model, wave).tokens]
    assert [(t.id, t.start) for t in decode_long(model, wave, chunk_s=1000)] == whole
    chunked = decode_long(model, wave, chunk_s=10.0, overlap_s=2.0)
    starts = [t.start for t in chunked]
    assert starts == sorted(starts) and len(chunked) > 10
    assert starts[-1] * model.frame_shift > len(wave) / 16000 - 10  # reaches the last chunk


def test_transcribe_word_and_sentence_times(model, espeak):
    from mlx_audio_lab.fixtures import speech

    wave = speech.speech("fox", 16000)
    t = model.transcribe(wave)
    assert t.tokens and t.segments
    assert all(s.start <= s.end for s in t.segments)
    assert [s.start for s in t.segments] == sorted(s.start for s in t.segments)
    assert t.text.replace(" ", "") == "".join(s.text for s in t.segments).replace(" ", "")
    sentences = model.transcribe(wave, timestamps="segment").segments
    assert sum(len(s.tokens) for s in sentences) == len(t.tokens)
