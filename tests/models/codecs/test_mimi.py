"""Mimi port: layer-by-layer parity, codes identical to transformers on speech, streaming, bad checkpoints."""

from __future__ import annotations

import helpers
import numpy as np
import pytest

from mlx_audio_lab import parity

folder, model, reference = helpers.fixture_trio("mimi")


def test_fixture_parity_every_layer(folder):
    names = helpers.assert_parity_every_layer(parity.run("mimi", weights=folder))
    assert names[0] == "encoder.layers.0" and names[-1] == "decoder.output"
    for part in ("encoder_transformer.layers.1", "downsample", "quantizer", "upsample", "decoder_transformer"):
        assert part in names


def _tie_gaps(reference, audio: np.ndarray, ref_codes: np.ndarray, got: np.ndarray) -> list[float]:
    """For each differing code: |d(ours) - d(theirs)| / d(theirs) on the reference's residual (float64)."""
    import torch

    q = reference.quantizer
    with torch.no_grad():
        latents = reference.encoder(torch.from_numpy(audio)[None, None]).latents
    gaps, k0 = [], 0
    for rvq in (q.semantic_residual_vector_quantizer, q.acoustic_residual_vector_quantizer):
        with torch.no_grad():
            residual = rvq.input_proj(latents)[0].T.double()
        embeds = [layer.codebook.embed for layer in rvq.layers]
        gaps += helpers.l2_tie_gaps(residual, embeds, ref_codes[k0:], got[k0:])
        k0 += len(embeds)
    return gaps


@pytest.mark.parametrize("num_quantizers", [None, 2])
def test_speech_codes_identical_and_decode_close(model, reference, clip, num_quantizers):
    import torch

    got = model.encode(clip, num_quantizers=num_quantizers)
    with torch.no_grad():
        codes = reference.encode(torch.from_numpy(clip)[None, None], num_quantizers=num_quantizers).audio_codes
        want_audio = reference.decode(codes).audio_values[0, 0].numpy()
    want = codes[0].numpy()
    n_q = num_quantizers or model.config.num_quantizers
    assert got.shape == want.shape == (n_q, -(-len(clip) // model.frame_size))
    helpers.assert_codes_equal_but_ties(got, want, lambda: _tie_gaps(reference, clip, want, got), 1e-5)
    helpers.assert_decoded_close(model.decode(want), want_audio)


def test_num_quantizers_prefix_and_limits(model, clip):
    a, b = model.encode(clip[:38400], num_quantizers=2), model.encode(clip[:38400])
    np.testing.assert_array_equal(a, b[:2])  # residual stages: fewer codebooks are a prefix
    with pytest.raises(ValueError, match="num_quantizers"):
        model.encode(clip[:38400], num_quantizers=model.config.num_quantizers + 1)


STREAM_TOL = 1e-4  # max-abs, audio peaks near 2; measured about 1.5e-6 on the fixture


@pytest.mark.parametrize("frames_per_step", [1, 3])
def test_streaming_matches_full_sequence(model, clip, frames_per_step):
    from mlx_audio_lab.models.codecs.mimi.streaming import stream_decode, stream_encode

    x = clip[: len(clip) // model.frame_size * model.frame_size]  # whole 80 ms frames
    full = model.encode(x)
    streamed = stream_encode(model, x, frames_per_step=frames_per_step)
    assert int((streamed != full).sum()) == 0
    assert full.shape[1] > 2 * model.config.sliding_window  # the KV cache runs past its window
    audio = model.decode(full)
    err = np.abs(stream_decode(model, full, frames_per_step=frames_per_step) - audio).max()
    assert err <= STREAM_TOL, err


def test_stream_objects_step_by_frame(model, clip):
    enc, dec = model.encode_stream(), model.decode_stream()
    frames = [clip[i : i + model.frame_size] for i in range(0, 5 * model.frame_size, model.frame_size)]
    codes = np.concatenate([enc.step(f) for f in frames], axis=1)
    np.testing.assert_array_equal(codes, model.encode(np.concatenate(frames)))
    audio = np.concatenate([dec.step(codes[:, t : t + 1]) for t in range(codes.shape[1])])
    assert audio.shape == (5 * model.frame_size,)
    assert np.abs(audio - model.decode(codes)).max() <= STREAM_TOL
    with pytest.raises(ValueError, match="multiples"):
        model.encode_stream().step(clip[:1000])


def test_mlx_layout_round_trip(model, tmp_path):
    helpers.assert_round_trip(model, tmp_path)


def test_missing_key_is_named(folder, tmp_path):
    msg = helpers.checkpoint_error(folder, tmp_path,
                                   lambda s: s.pop("encoder_transformer.layers.1.self_attn.k_proj.weight"))
    assert "missing (1): encoder_transformer.layers.1.self_attn.k_proj.weight" in msg


def test_misshaped_and_unexpected_keys_are_named(folder, tmp_path):
    def edit(s):
        s["downsample.conv.weight"] = s["downsample.conv.weight"][:, :, :3]
        s["quantizer.extra.weight"] = np.zeros(3, np.float32)
    msg = helpers.checkpoint_error(folder, tmp_path, edit)
    assert "mis-shaped: downsample.conv.weight has shape (32, 3, 32), the model expects (32, 4, 32)" in msg
    assert "unexpected (1): quantizer.extra.weight" in msg


def test_codebooks_from_statistics(folder, model):
    """embed = embed_sum / max(cluster_usage, 1e-5): entry 0 (usage 0) included, exactly as transformers."""
    from safetensors.numpy import load_file

    state = load_file(str(folder / "model.safetensors"))
    base = "quantizer.acoustic_residual_vector_quantizer.layers.1.codebook"
    usage = state[f"{base}.cluster_usage"]
    assert usage[0] == 0 and len(np.unique(usage)) == len(usage)
    want = state[f"{base}.embed_sum"] / np.maximum(usage, np.float32(1e-5))[:, None]
    got = np.array(model.quantizer.acoustic_residual_vector_quantizer.layers[1].codebook.embed)
    np.testing.assert_array_equal(got, want)
