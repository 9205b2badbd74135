"""DAC port: layer-by-layer parity, codes identical to transformers on speech, codebook counts, bad checkpoints."""

from __future__ import annotations

import shutil

import mlx.core as mx
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

    return build("dac")


@pytest.fixture(scope="module")
def model(folder):
    return mlx_audio_lab.load(folder)


@pytest.fixture(scope="module")
def reference(folder):
    from mlx_audio_lab.models.codecs.dac.reference import load_reference

    return load_reference(folder)


@pytest.fixture(scope="module")
def clip(espeak, model):
    from mlx_audio_lab.fixtures.speech import speech

    return speech("harbor", model.sample_rate)


def test_fixture_is_weight_normed_and_varied(folder):
    from safetensors.numpy import load_file

    state = load_file(str(folder / "model.safetensors"))
    assert any(k.endswith("parametrizations.weight.original0") for k in state)
    cb = state["quantizer.quantizers.0.codebook.weight"]
    assert cb.std() > 0.5 and len(np.unique(cb.round(3), axis=0)) == cb.shape[0]


def test_fixture_parity_every_layer(folder):
    report = parity.run("dac", weights=folder)
    names = [r.name for r in report.layers]
    assert names[0] == "encoder.conv1" and "quantizer" in names and names[-1] == "decoder.output"
    for r in report.layers:
        assert r.max_abs <= 1e-4, r
    assert report.first_divergence is None
    assert report.outputs_match, report.outputs_note


def _tie_gaps(reference, audio: np.ndarray, ref_codes: np.ndarray, got: np.ndarray) -> list[float]:
    """For each differing code: the cosine-score gap between ours and theirs on the reference's residual."""
    import torch
    import torch.nn.functional as F

    gaps = []
    with torch.no_grad():
        residual = reference.encoder(torch.from_numpy(audio)[None, None]).double()
        for k in range(ref_codes.shape[0]):
            q = reference.quantizer.quantizers[k].double()
            e = F.normalize(q.in_proj(residual)[0].T)  # (frames, d)
            score = e @ F.normalize(q.codebook.weight).T
            for t in np.flatnonzero(ref_codes[k] != got[k]):
                gaps.append(float(abs(score[t, got[k, t]] - score[t, ref_codes[k, t]])))
            residual = residual - q.out_proj(q.codebook(torch.from_numpy(ref_codes[k])[None]).transpose(1, 2))
            q.float()
    return gaps


@pytest.mark.parametrize("n_quantizers", [None, 2])
def test_speech_codes_identical_and_decode_close(model, reference, clip, n_quantizers):
    import torch

    got = model.encode(clip, n_quantizers=n_quantizers)
    padded = model.pad(clip)
    with torch.no_grad():
        codes = reference.encode(torch.from_numpy(padded)[None, None], n_quantizers=n_quantizers).audio_codes
        want_audio = reference.decode(audio_codes=codes).audio_values[0].numpy()
    want = codes[0].numpy()
    n = n_quantizers or model.config.n_codebooks
    assert got.shape == want.shape == (n, -(-len(clip) // 320))
    mismatches = int((got != want).sum())
    if mismatches:  # only argmax near-ties may differ
        gaps = _tie_gaps(reference, padded, want, got)
        assert max(gaps) < 1e-6, f"{mismatches} codes differ and are not ties: {gaps}"
    assert len(np.unique(want[0])) >= 10, "codebook 0 nearly constant: the fixture hides mapping bugs"
    audio = model.decode(want)
    assert audio.dtype == np.float32 and audio.shape == want_audio.shape
    assert np.abs(audio - want_audio).max() <= 1e-4
    assert audio.std() > 1e-3


def test_fewer_codebooks_are_a_prefix(model, clip):
    a, b = model.encode(clip[:16000], n_quantizers=1), model.encode(clip[:16000])
    np.testing.assert_array_equal(a, b[:1])
    assert model.decode(a).shape == model.decode(b).shape


def test_shared_snake_matches_transformers():
    import torch
    from transformers.models.dac.modeling_dac import Snake1d as TorchSnake

    from mlx_audio_lab.layers import Snake1d

    ref, ours = TorchSnake(5), Snake1d(5)
    with torch.no_grad():
        ref.alpha.copy_(torch.linspace(0.2, 3.0, 5).reshape(1, 5, 1))
    ours.alpha = mx.array(ref.alpha.detach().numpy().reshape(-1))
    x = np.random.default_rng(0).standard_normal((2, 5, 40)).astype(np.float32) * 3
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy().transpose(0, 2, 1)
    assert np.abs(np.array(ours(mx.array(x.transpose(0, 2, 1)))) - want).max() < 1e-5


def test_mlx_layout_round_trip(folder, model, tmp_path):
    again = mlx_audio_lab.load(save_model(model, tmp_path / "mlx"))
    base = dict(tree_flatten(model.parameters()))
    got = dict(tree_flatten(again.parameters()))
    assert base.keys() == got.keys()
    for k, v in got.items():
        assert np.array_equal(np.array(v), np.array(base[k])), k


def test_plain_and_old_weight_norm_names_load_the_same(folder, model, tmp_path):
    """Checkpoints saved after `remove_weight_norm` (plain `weight`) or with `weight_g/_v` load alike."""
    from safetensors.numpy import load_file, save_file

    from mlx_audio_lab.convert.keymap import fold_weight_norm

    state = load_file(str(folder / "model.safetensors"))
    old = {k.replace("parametrizations.weight.original0", "weight_g")
           .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    base = dict(tree_flatten(model.parameters()))
    for name, variant in [("old", old), ("plain", fold_weight_norm(state))]:
        dst = tmp_path / name
        shutil.copytree(folder, dst)
        save_file(variant, str(dst / "model.safetensors"), metadata={"format": "pt"})
        for k, v in tree_flatten(mlx_audio_lab.load(dst).parameters()):
            assert np.allclose(np.array(v), np.array(base[k]), atol=1e-7), (name, k)


def _broken(folder, tmp_path, edit) -> str:
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    state = load_file(str(bad / "model.safetensors"))
    edit(state)
    save_file(state, str(bad / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as e:
        mlx_audio_lab.load(bad)
    return str(e.value)


def test_missing_key_is_named(folder, tmp_path):
    msg = _broken(folder, tmp_path, lambda s: s.pop("quantizer.quantizers.3.codebook.weight"))
    assert "missing (1): quantizer.quantizers.3.codebook.weight" in msg


def test_unexpected_and_misshaped_keys_are_named(folder, tmp_path):
    def edit(s):
        s["decoder.block.0.snake1.alpha"] = s["decoder.block.0.snake1.alpha"][:, :3]
        s["quantizer.quantizers.0.codebook.extra"] = np.zeros(3, np.float32)
    msg = _broken(folder, tmp_path, edit)
    assert "mis-shaped: decoder.block.0.snake1.alpha has shape (3,), the model expects (32,)" in msg
    assert "unexpected (1): quantizer.quantizers.0.codebook.extra" in msg
