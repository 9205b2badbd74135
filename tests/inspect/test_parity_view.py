"""Parity view and a port broken on purpose: one LayerNorm weight moved, the first divergence is its layer."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect.parity_view import (
    ParityView,
    break_port,
    divergence_index,
    error_ratio,
    parity_view_figure,
    perturbed,
)
from mlx_audio_lab.models.stt.whisper import load as whisper_load


@pytest.fixture(scope="module")
def broken():
    return break_port("whisper", "encoder.layers.1.final_layer_norm.weight", delta=0.05)


def test_first_divergence_is_the_perturbed_layer(broken):
    r = broken.report
    assert r.first_divergence == "encoder.layers.1"
    i = divergence_index(r)
    ratio = error_ratio(r)
    assert (ratio[:i] <= 1).all() and ratio[i] > 10  # layers before it still agree to float rounding
    assert r.extras["broken"] == "encoder.layers.1.final_layer_norm.weight + 0.05"
    # the perturbation is the whole difference: MLX minus reference at that layer is not rounding noise
    got, want = broken.pair("encoder.layers.1")
    assert abs(got - want).max() == pytest.approx(r.layers[i].max_abs)


def test_perturbation_is_applied_inside_and_undone_after():
    from mlx.utils import tree_flatten

    from mlx_audio_lab.fixtures import build

    name = "decoder.layers.0.self_attn_layer_norm.weight"
    original = whisper_load.load_model
    before = dict(tree_flatten(original(build("whisper")).parameters()))[name]
    with perturbed("whisper", name, 0.5):
        inside = dict(tree_flatten(whisper_load.load_model(build("whisper")).parameters()))[name]
    after = dict(tree_flatten(whisper_load.load_model(build("whisper")).parameters()))[name]
    assert whisper_load.load_model is original
    assert float(abs(inside - before - 0.5).max()) < 1e-6 and float(abs(after - before).max()) == 0.0
    with pytest.raises(KeyError, match="no parameter"), perturbed("whisper", "encoder.nope.weight", 1.0):
        whisper_load.load_model(build("whisper"))
    assert whisper_load.load_model is original


def test_view_shows_checks_and_red_first_divergence(broken):
    view = ParityView(broken)
    text = view.summary()
    assert "first divergence: encoder.layers.1" in text and broken.report.checks() in text
    fig = parity_view_figure(broken.report)
    ax = fig.axes[0]
    bars = ax.patches
    i = divergence_index(broken.report)
    assert bars[i].get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-2)  # tab:red
    assert bars[0].get_facecolor()[:3] == pytest.approx((0.122, 0.467, 0.706), abs=1e-2)  # tab:blue
    assert ax.get_xticklabels()[i].get_color() == "tab:red"


def test_layers_whose_shapes_differ_get_a_labelled_bar():
    from mlx_audio_lab.parity import TapPoint
    from mlx_audio_lab.parity.core import compare

    ref = {"a": np.ones((1, 4)), "b": np.ones((1, 5))}
    mlx = {"a": np.ones((1, 4)) + 1e-7, "b": np.ones((1, 6))}
    rep = compare("toy", [TapPoint("a", "a"), TapPoint("b", "b")], mlx, ref, outputs_match=False)
    ax = parity_view_figure(rep, weights="toy-weights").axes[0]
    assert ax.get_title() == "parity of toy on toy-weights weights - first divergence: b"
    assert ax.patches[1].get_hatch() == "//" and ax.patches[1].get_height() == ax.get_ylim()[1]
    assert [t.get_text() for t in ax.texts] == ["shape differs"]


def test_many_layers_get_room_for_their_names():
    """65 layers (Chatterbox's report): the figure widens so no two rotated layer names overlap."""
    from mlx_audio_lab.parity import TapPoint
    from mlx_audio_lab.parity.core import compare

    names = [f"flow.decoder.estimator.mid_blocks.{i}.transformer" for i in range(65)]
    ref = {n: np.ones((1, 4)) for n in names}
    rep = compare("long", [TapPoint(n, n) for n in names], ref, ref, outputs_match=True)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = parity_view_figure(rep)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()]
    assert fig.get_size_inches()[0] > 10
    assert all(a.x0 < b.x0 for a, b in zip(boxes, boxes[1:]))
    # rotated labels overlap when a label's baseline start lies left of its neighbour's end at the same height
    assert all(b.x1 - a.x1 >= 0.9 * (boxes[1].x1 - boxes[0].x1) for a, b in zip(boxes, boxes[1:]))
    assert (boxes[1].x1 - boxes[0].x1) >= fig.axes[0].get_xticklabels()[0].get_fontsize() * fig.dpi / 72 * 1.1
