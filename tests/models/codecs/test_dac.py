"""DAC port: layer-by-layer parity, codes identical to transformers on speech, codebook counts, bad checkpoints."""

from __future__ import annotations

import shutil

import helpers
import mlx.core as mx
import numpy as np
import pytest

import mlx_audio_lab
from mlx_audio_lab import parity

folder, model, reference = helpers.fixture_trio("dac")


def test_fixture_is_weight_normed_and_varied(folder):
    from safetensors.numpy import load_file

    state = load_file(str(folder / "model.safetensors"))
    assert any(k.endswith("parametrizations.weight.original0") for k in state)
    cb = state["quantizer.quantizers.0.codebook.weight"]
    assert cb.std() > 0.5 and len(np.unique(cb.round(3), axis=0)) == cb.shape[0]


def test_fixture_parity_every_layer(folder):
    names = helpers.assert_parity_every_layer(parity.run("dac", weights=folder))
    assert names[0] == "encoder.conv1" and "quantizer" in names and names[-1] == "decoder.output"


def _tie_gaps(reference, audio: np.ndarray, ref_codes: np.ndarray, got: np.ndarray) -> list[float]:
    """For each differing code: the cosine-score gap between ours and theirs on the reference's residual."""
    import torch

    gaps = []
    with torch.no_grad():
        residual = reference.encoder(torch.from_numpy(audio)[None, None]).double()
        for k in range(ref_codes.shape[0]):
            q = reference.quantizer.quantizers[k].double()
            gaps += helpers.cosine_tie_gaps(q.in_proj(residual)[0].T, q.codebook.weight, ref_codes[k], got[k])
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
    helpers.assert_codes_equal_but_ties(got, want, lambda: _tie_gaps(reference, padded, want, got), 1e-6)
    helpers.assert_decoded_close(model.decode(want), want_audio)


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
    helpers.assert_round_trip(model, tmp_path)


def test_plain_and_old_weight_norm_names_load_the_same(folder, model, tmp_path):
    """Checkpoints saved after `remove_weight_norm` (plain `weight`) or with `weight_g/_v` load alike."""
    from safetensors.numpy import load_file, save_file

    from mlx_audio_lab.convert.keymap import fold_weight_norm

    state = load_file(str(folder / "model.safetensors"))
    old = {k.replace("parametrizations.weight.original0", "weight_g")
           .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    base = helpers.params(model)
    for name, variant in [("old", old), ("plain", fold_weight_norm(state))]:
        dst = tmp_path / name
        shutil.copytree(folder, dst)
        save_file(variant, str(dst / "model.safetensors"), metadata={"format": "pt"})
        for k, v in helpers.params(mlx_audio_lab.load(dst)).items():
            assert np.allclose(v, base[k], atol=1e-7), (name, k)


def test_missing_key_is_named(folder, tmp_path):
    msg = helpers.checkpoint_error(folder, tmp_path, lambda s: s.pop("quantizer.quantizers.3.codebook.weight"))
    assert "missing (1): quantizer.quantizers.3.codebook.weight" in msg


def test_unexpected_and_misshaped_keys_are_named(folder, tmp_path):
    def edit(s):
        s["decoder.block.0.snake1.alpha"] = s["decoder.block.0.snake1.alpha"][:, :3]
        s["quantizer.quantizers.0.codebook.extra"] = np.zeros(3, np.float32)
    msg = helpers.checkpoint_error(folder, tmp_path, edit)
    assert "mis-shaped: decoder.block.0.snake1.alpha has shape (3,), the model expects (32,)" in msg
    assert "unexpected (1): quantizer.quantizers.0.codebook.extra" in msg
