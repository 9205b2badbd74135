"""Parakeet TDT in bfloat16 against transformers in bfloat16 (CPU): audio whose last encoder frame is padding.

A padded frame makes a fully masked query row in the relative-position attention; masked scores must take the
dtype's finite minimum (transformers' `torch.finfo(dtype).min`), else that row's softmax is NaN, the conv module
spreads it to valid frames, the joint's logits turn NaN and greedy TDT sticks on a frame (argmax 0: a label
with duration 0) until the step cap.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

import mlx_audio_lab  # noqa: F401  (OpenBLAS before MLX)
from mlx_audio_lab.layers.relpos_attention import RelPositionMultiHeadAttention, rel_positional_encoding
from mlx_audio_lab.models.stt.parakeet import load_model, reference
from mlx_audio_lab.models.stt.parakeet.decoding import transducer_greedy
from mlx_audio_lab.models.stt.parakeet.features import log_mel

BF16_ENCODER_TOL = 0.1  # bf16 on both sides (8-bit mantissa, outputs ~2): the float32 bound is 1e-4


@pytest.fixture(scope="module")
def folder():
    from mlx_audio_lab.fixtures import build

    return build("parakeet_tdt")


@pytest.fixture(scope="module")
def padded_clip(espeak):
    """'fox' cut to a multiple of 8 hops: the STFT's extra frame becomes one padded encoder frame."""
    from mlx_audio_lab.fixtures import speech

    audio = speech.speech("fox", 16000)
    return audio[: len(audio) // 1280 * 1280]


def _both(folder, audio):
    """(port steps, port encoder (T, H) float32, valid frames), (reference generate output, encoder (T, H))."""
    import torch
    from transformers import LogitsProcessorList

    port = load_model(folder, dtype=mx.bfloat16)
    ref = reference.load_reference(folder).to(torch.bfloat16)
    feats, n = log_mel(audio, port.config.front_end)
    enc, lengths = port.encode(mx.array(feats)[None].astype(mx.bfloat16), mx.array([n]))
    valid = int(lengths[0].item())
    steps = transducer_greedy(port, enc[0], valid)
    x = torch.from_numpy(np.array(feats))[None].to(torch.bfloat16)
    mask = (torch.arange(x.shape[1]) < n).long()[None]  # what ParakeetFeatureExtractor's attention_mask gives
    with torch.inference_mode():
        out = ref.generate(input_features=x, attention_mask=mask, return_dict_in_generate=True,
                           logits_processor=LogitsProcessorList([reference.TokensOnly(ref.config.vocab_size)]))
        ref_enc = ref.get_audio_features(input_features=x, attention_mask=mask).pooler_output[0].float().numpy()
    return (steps, np.array(enc[0].astype(mx.float32)), valid), (out, ref_enc)


def test_bf16_encoder_finite_and_close_with_a_padded_frame(folder, padded_clip):
    (_, enc, valid), (_, ref_enc) = _both(folder, padded_clip)
    assert valid == enc.shape[0] - 1  # the case under test: one padded encoder frame
    assert np.isfinite(enc).all()
    assert np.abs(enc - ref_enc).max() <= BF16_ENCODER_TOL  # padded frame included


def test_bf16_greedy_tdt_identical_to_transformers(folder, padded_clip):
    (steps, _, _), (out, _) = _both(folder, padded_clip)
    assert steps.tokens == out.sequences[0].tolist()
    assert steps.durations == out.durations[0].tolist()
    blank = load_model(folder).config.blank
    assert len({t for t in steps.tokens if t != blank}) >= 2  # not constant


def test_fully_masked_row_is_finite_in_bf16():
    """A padded query row attends uniformly (finite minimum everywhere), in bf16 as in float32."""
    mx.random.seed(0)
    attn = RelPositionMultiHeadAttention(32, 4)
    attn.update({"bias_u": mx.random.normal((4, 8)) * 0.1, "bias_v": mx.random.normal((4, 8)) * 0.1})
    T = 6
    x = mx.random.normal((1, T, 32))
    ok = mx.arange(T) < T - 2  # two padded frames
    mask = (ok[None, :] & ok[:, None])[None, None]  # (1, 1, T, T): padded rows fully masked
    pos = rel_positional_encoding(T, 32)
    want = np.array(attn(x, pos, mask))
    attn.set_dtype(mx.bfloat16)
    got = np.array(attn(x.astype(mx.bfloat16), pos.astype(mx.bfloat16), mask).astype(mx.float32))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=0.05)


def test_bf16_model_exports_to_the_community_layout(folder, tmp_path):
    """A bf16 port exports (numpy has no bfloat16) and loads back bf16 with the same encoder output."""
    from mlx.utils import tree_flatten

    from mlx_audio_lab.models.stt.parakeet import export_mlx_community

    model = load_model(folder, dtype=mx.bfloat16)
    again = load_model(export_mlx_community(model, tmp_path / "community"), dtype=mx.bfloat16)
    assert {v.dtype for _, v in tree_flatten(again.parameters())} == {mx.bfloat16}
    feats = mx.random.normal((1, 200, 80), key=mx.random.key(0)).astype(mx.bfloat16)
    a, b = np.array(model(feats).astype(mx.float32)), np.array(again(feats).astype(mx.float32))
    assert a.std() > 0.1
    np.testing.assert_array_equal(a, b)  # the same bf16 weights; the decoder's fused bias is not on this path
