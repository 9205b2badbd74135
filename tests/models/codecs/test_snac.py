"""SNAC port: layer-by-layer parity, multi-scale codes identical to the `snac` package on speech, bad checkpoints."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_audio_lab
from mlx_audio_lab import parity
from mlx_audio_lab.convert import CheckpointError
from mlx_audio_lab.convert.save import save_model


@pytest.fixture(scope="module")
def folder():
    from mlx_audio_lab.fixtures import build

    return build("snac")


@pytest.fixture(scope="module")
def model(folder):
    return mlx_audio_lab.load(folder)


@pytest.fixture(scope="module")
def reference(folder):
    from mlx_audio_lab.models.codecs.snac.reference import load_reference

    return load_reference(folder)


@pytest.fixture(scope="module")
def clip(espeak, model):
    from mlx_audio_lab.fixtures.speech import speech

    return speech("harbor", model.sample_rate)


def test_upstream_layout_is_detected_without_model_type(folder, model):
    import json

    config = json.loads((folder / "config.json").read_text())
    assert "model_type" not in config and (folder / "pytorch_model.bin").is_file()
    assert type(model).__name__ == "Snac" and model.sample_rate == 24_000


def test_fixture_parity_every_layer(folder):
    report = parity.run("snac", weights=folder)
    names = [r.name for r in report.layers]
    assert names[0] == "encoder.block.0" and "quantizer" in names and names[-1] == "decoder.model.9"
    for r in report.layers:
        assert r.max_abs <= 1e-4, r
    assert report.first_divergence is None
    assert report.outputs_match, report.outputs_note


def _tie_gaps(reference, audio: np.ndarray, ref_codes: list, got: list) -> list[float]:
    """For each differing code: the cosine-score gap between ours and theirs on the reference's residual."""
    import torch
    import torch.nn.functional as F

    gaps = []
    with torch.no_grad():
        residual = reference.encoder(torch.from_numpy(audio)[None, None])
        for q, want, ours in zip(reference.quantizer.quantizers, ref_codes, got):
            pooled = F.avg_pool1d(residual, q.stride, q.stride) if q.stride > 1 else residual
            e = F.normalize(q.in_proj(pooled)[0].T.double())
            score = e @ F.normalize(q.codebook.weight.double()).T
            gaps += [float(abs(score[t, ours[t]] - score[t, want[t]])) for t in np.flatnonzero(want != ours)]
            z_q = q.out_proj(q.decode_code(torch.from_numpy(want)[None]))
            residual = residual - z_q.repeat_interleave(q.stride, dim=-1)
    return gaps


def test_speech_codes_identical_and_decode_close(model, reference, clip):
    import torch

    from mlx_audio_lab.models.codecs.snac.reference import seeded_torch_noise

    got = model.encode(clip)
    padded = model.pad(clip)
    with torch.no_grad():
        want = [c[0].numpy() for c in reference.encode(torch.from_numpy(clip)[None, None])]
        with seeded_torch_noise(7):
            want_audio = reference.decode([torch.from_numpy(c)[None] for c in want])[0, 0].numpy()
    frames = len(padded) // model.config.hop_length
    assert [c.shape for c in got] == [c.shape for c in want] == [(frames // s,) for s in model.config.vq_strides]
    mismatches = sum(int((a != b).sum()) for a, b in zip(got, want))
    if mismatches:  # only argmax near-ties may differ
        gaps = _tie_gaps(reference, padded, want, got)
        assert max(gaps) < 1e-6, f"{mismatches} codes differ and are not ties: {gaps}"
    assert len(np.unique(want[0])) >= 10, "codebook 0 nearly constant: the fixture hides mapping bugs"
    audio = model.decode(want, seed=7)
    assert audio.dtype == np.float32 and audio.shape == want_audio.shape == padded.shape
    assert np.abs(audio - want_audio).max() <= 1e-4
    assert audio.std() > 1e-3


def test_decoder_noise_is_stochastic_unless_seeded(model, clip):
    codes = model.encode(clip[:24000])
    assert np.array_equal(model.decode(codes, seed=1), model.decode(codes, seed=1))
    assert not np.array_equal(model.decode(codes, seed=1), model.decode(codes, seed=2))
    assert not np.array_equal(model.decode(codes), model.decode(codes))


def test_mlx_layout_round_trip(folder, model, tmp_path):
    again = mlx_audio_lab.load(save_model(model, tmp_path / "mlx"))
    base = dict(tree_flatten(model.parameters()))
    got = dict(tree_flatten(again.parameters()))
    assert base.keys() == got.keys()
    for k, v in got.items():
        assert np.array_equal(np.array(v), np.array(base[k])), k


def test_old_weight_norm_names_load_the_same(folder, model, tmp_path):
    """Checkpoints saved before torch's parametrizations keep `weight_g` / `weight_v`; they fold alike."""
    import torch

    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    old = {k.replace("parametrizations.weight.original0", "weight_g")
           .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    dst = tmp_path / "old"
    shutil.copytree(folder, dst)
    torch.save(old, dst / "pytorch_model.bin")
    base = dict(tree_flatten(model.parameters()))
    for k, v in tree_flatten(mlx_audio_lab.load(dst).parameters()):
        assert np.array_equal(np.array(v), np.array(base[k])), k


def _broken(folder, tmp_path, edit) -> str:
    import torch

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    state = torch.load(bad / "pytorch_model.bin", weights_only=True)
    edit(state)
    torch.save(state, bad / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as e:
        mlx_audio_lab.load(bad)
    return str(e.value)


def test_missing_key_is_named(folder, tmp_path):
    msg = _broken(folder, tmp_path, lambda s: s.pop("encoder.block.5.to_qkv.weight"))
    assert "missing (1): encoder.block.5.to_qkv.weight" in msg


def test_misshaped_key_is_named(folder, tmp_path):
    def edit(s):
        s["quantizer.quantizers.1.codebook.weight"] = s["quantizer.quantizers.1.codebook.weight"][:10]
    msg = _broken(folder, tmp_path, edit)
    assert "mis-shaped: quantizer.quantizers.1.codebook.weight has shape (10, 8), the model expects (64, 8)" in msg
