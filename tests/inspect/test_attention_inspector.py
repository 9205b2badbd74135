"""AttentionInspector core: map selection and Whisper's self / cross attention against `timing`."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect import AttentionInspector, AttentionMaps, select_map, whisper_attention
from mlx_audio_lab.inspect.attention import ALIGNMENT, attention_figure


def test_select_map_head_mean_and_alignment():
    w = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(select_map(w, 1, 2), w[1, 2])
    np.testing.assert_allclose(select_map(w, 0), w[0].mean(0))
    np.testing.assert_allclose(select_map(w, 0, ALIGNMENT, [(0, 1), (1, 2)]), (w[0, 1] + w[1, 2]) / 2)
    with pytest.raises(ValueError):
        select_map(w, 0, ALIGNMENT, [])


def test_inspector_on_synthetic_maps():
    rng = np.random.default_rng(0)
    maps = AttentionMaps(["a", "b", "c"], cross=rng.random((2, 4, 3, 10)), self_attn=rng.random((2, 4, 3, 3)))
    insp = AttentionInspector(maps)
    assert insp.summary() == ("AttentionInspector: cross+self attention, 2 layers x 4 heads, 3 tokens x 10 "
                              "positions, 0 alignment heads")
    assert insp.status() == "cross attention, layer 1, mean of heads"
    insp.kind, insp.head = "self", 3
    np.testing.assert_array_equal(insp.map(), maps.self_attn[1, 3])
    ax = attention_figure(maps, "cross", 0, 2).axes[0]
    assert ax.get_title() == "cross attention: layer 0, head 2" and ax.get_xlabel() == "time (s)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    fig = attention_figure(maps, "self", 1, 0)
    assert fig.axes[-1].get_ylabel() == "attention weight"  # every map has its colorbar
    aligned = AttentionMaps(["a", "b", "c"], cross=maps.cross, alignment_heads=[(0, 1), (1, 3)])
    title = attention_figure(aligned, "cross", 0, "alignment").axes[0].get_title()
    assert title == "cross attention: mean of the alignment heads (layer.head 0.1, 1.3)"


def test_crop_keeps_the_chosen_queries_and_keys_and_marks_the_cut():
    w = np.tril(np.ones((6, 6))) / np.arange(1, 7)[:, None]  # uniform causal attention: row i is 1 / (i + 1)
    maps = AttentionMaps(list("abcdef"), self_attn=w[None, None], log_colour=True).crop([0, 1, 4, 5])
    assert maps.tokens == ["a", "b", "e", "f"] and maps.positions == [0, 1, 4, 5]
    np.testing.assert_allclose(maps.self_attn[0, 0], [[1, 0, 0, 0], [.5, .5, 0, 0], [.2, .2, .2, 0],
                                                      [1 / 6, 1 / 6, 1 / 6, 1 / 6]])
    fig = attention_figure(maps, "self", 0, 0)
    ax = fig.axes[0]
    assert fig.axes[-1].get_ylabel() == "attention weight (log scale)"
    assert [t.get_text() for t in ax.texts] == ["2 tokens left out"]  # positions 2 and 3
    assert ax.images[0].norm.vmin == pytest.approx(1 / 6) and ax.images[0].norm.vmax == 1


def test_picking_a_layer_leaves_the_alignment_heads_for_that_layers_mean():
    """The alignment heads span layers, so a layer picked in the widget shows that layer (mean of its heads)."""
    from mlx_audio_lab.inspect.attention import AVG

    rng = np.random.default_rng(1)
    maps = AttentionMaps(["a", "b"], cross=rng.random((2, 4, 2, 6)), alignment_heads=[(0, 1), (1, 3)])
    insp = AttentionInspector(maps, head=ALIGNMENT)
    kind, layer, head = insp._controls()
    layer.value = 0
    assert (insp.layer, insp.head) == (0, AVG) and head.value == AVG
    np.testing.assert_allclose(insp.map(), maps.cross[0].mean(0))
    assert insp.status() == "cross attention, layer 0, mean of heads"
    head.value = 2
    layer.value = 1  # a plain head stays: only the layer changes
    assert (insp.layer, insp.head) == (1, 2)


@pytest.mark.reference
def test_whisper_attention_matches_timing(whisper_fixture):
    import mlx.core as mx

    import mlx_audio_lab
    from mlx_audio_lab.models.stt.whisper.timing import alignment_attention
    from mlx_audio_lab.models.stt.whisper.transcribe import features, window

    model = mlx_audio_lab.load(whisper_fixture)
    audio = (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)
    tokens = [50257, 50362, 383, 2068, 2835]
    maps = whisper_attention(model, audio, tokens)
    L, H = len(model.decoder.layers), model.config.decoder_attention_heads
    assert maps.cross.shape == (L, H, 5, 50) and maps.self_attn.shape == (L, H, 5, 5)
    np.testing.assert_allclose(maps.self_attn.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(maps.self_attn, 1)).max() == 0.0  # causal
    want = alignment_attention(model, mx.array(window(features(audio), 0)), tokens)[..., :50]
    got = np.stack([maps.cross[layer, h] for layer, h in model.alignment_heads])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert maps.tokens[:2] == ["<|startoftranscript|>", "<|notimestamps|>"] and maps.tokens[2] == "' The'"
