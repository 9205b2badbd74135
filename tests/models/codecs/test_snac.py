"""SNAC port: layer-by-layer parity, multi-scale codes identical to the `snac` package on speech, bad checkpoints."""

from __future__ import annotations

import shutil

import helpers
import numpy as np

import mlx_audio_lab
from mlx_audio_lab import parity

folder, model, reference = helpers.fixture_trio("snac")


def test_upstream_layout_is_detected_without_model_type(folder, model):
    import json

    config = json.loads((folder / "config.json").read_text())
    assert "model_type" not in config and (folder / "pytorch_model.bin").is_file()
    assert type(model).__name__ == "Snac" and model.sample_rate == 24_000


def test_fixture_parity_every_layer(folder):
    names = helpers.assert_parity_every_layer(parity.run("snac", weights=folder))
    assert names[0] == "encoder.block.0" and "quantizer" in names and names[-1] == "decoder.model.9"


def _tie_gaps(reference, audio: np.ndarray, ref_codes: list, got: list) -> list[float]:
    """For each differing code: the cosine-score gap between ours and theirs on the reference's residual."""
    import torch
    import torch.nn.functional as F

    gaps = []
    with torch.no_grad():
        residual = reference.encoder(torch.from_numpy(audio)[None, None])
        for q, want, ours in zip(reference.quantizer.quantizers, ref_codes, got):
            pooled = F.avg_pool1d(residual, q.stride, q.stride) if q.stride > 1 else residual
            gaps += helpers.cosine_tie_gaps(q.in_proj(pooled)[0].T, q.codebook.weight, want, ours)
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
    helpers.assert_codes_equal_but_ties(got, want, lambda: _tie_gaps(reference, padded, want, got), 1e-6)
    assert want_audio.shape == padded.shape
    helpers.assert_decoded_close(model.decode(want, seed=7), want_audio)


def test_decoder_noise_is_stochastic_unless_seeded(model, clip):
    codes = model.encode(clip[:24000])
    assert np.array_equal(model.decode(codes, seed=1), model.decode(codes, seed=1))
    assert not np.array_equal(model.decode(codes, seed=1), model.decode(codes, seed=2))
    assert not np.array_equal(model.decode(codes), model.decode(codes))


def test_mlx_layout_round_trip(folder, model, tmp_path):
    helpers.assert_round_trip(model, tmp_path)


def test_old_weight_norm_names_load_the_same(folder, model, tmp_path):
    """Checkpoints saved before torch's parametrizations keep `weight_g` / `weight_v`; they fold alike."""
    import torch

    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    old = {k.replace("parametrizations.weight.original0", "weight_g")
           .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    dst = tmp_path / "old"
    shutil.copytree(folder, dst)
    torch.save(old, dst / "pytorch_model.bin")
    helpers.assert_same_parameters(model, mlx_audio_lab.load(dst))


def test_missing_key_is_named(folder, tmp_path):
    msg = helpers.checkpoint_error(folder, tmp_path, lambda s: s.pop("encoder.block.5.to_qkv.weight"))
    assert "missing (1): encoder.block.5.to_qkv.weight" in msg


def test_misshaped_key_is_named(folder, tmp_path):
    def edit(s):
        s["quantizer.quantizers.1.codebook.weight"] = s["quantizer.quantizers.1.codebook.weight"][:10]
    msg = helpers.checkpoint_error(folder, tmp_path, edit)
    assert "mis-shaped: quantizer.quantizers.1.codebook.weight has shape (10, 8), the model expects (64, 8)" in msg
