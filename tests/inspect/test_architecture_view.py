"""Architecture figure: the stages and shapes it draws are the taps one forward pass of the port recorded."""

from __future__ import annotations

import numpy as np

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.inspect.architecture import (
    ArchitectureView,
    architecture_figure,
    model_stages,
    stages_from_shapes,
    trace_stages,
)
from mlx_audio_lab.models.stt.whisper import reference as whisper_ref


def test_repeated_layers_fold_only_when_name_pattern_and_shape_agree():
    shapes = {"conv": (1, 8, 4), "layers.0": (1, 4, 4), "layers.1": (1, 4, 4), "layers.2": (1, 4, 4),
              "layers.3": (1, 2, 4), "norm": (1, 2, 4), "blocks.0.attn": (2,), "blocks.1.attn": (2,)}
    st = stages_from_shapes(shapes)
    assert [(s.name, s.count, s.shape) for s in st] == [
        ("conv", 1, (1, 8, 4)), ("layers.0-2", 3, (1, 4, 4)), ("layers.3", 1, (1, 2, 4)), ("norm", 1, (1, 2, 4)),
        ("blocks.0-1.attn", 2, (2,))]
    assert st[1].taps == ("layers.0", "layers.1", "layers.2")
    assert len(stages_from_shapes(shapes, fold=False)) == len(shapes)


def test_whisper_stages_are_the_tapped_shapes_of_one_forward_pass():
    folder = build("whisper")
    inputs = whisper_ref.parity_inputs(folder)
    acts, _ = whisper_ref.run_mlx(folder, inputs)
    flat = model_stages("whisper", fold=False)
    assert [(s.name, s.shape) for s in flat] == [(k, tuple(np.shape(v))) for k, v in acts.items()]
    folded = model_stages("whisper")
    assert sum(s.count for s in folded) == len(acts)
    for s in folded:  # every folded box stands for taps of exactly its shape
        assert all(tuple(np.shape(acts[t])) == s.shape for t in s.taps)
    names = [s.name for s in folded]
    assert "encoder.layers.0-1" in names and "decoder.layers.0-1" in names
    logits = folded[-1]
    assert logits.name == "decoder.logits" and logits.shape[-1] == 51864  # the vocabulary, from the config


def test_trace_stages_of_a_direct_call_and_the_figure_texts():
    import mlx.core as mx

    import mlx_audio_lab

    model = mlx_audio_lab.load(build("whisper"))
    mel = mx.zeros((1, 3000, model.config.num_mel_bins))
    st = trace_stages(model.embed_audio, mel)
    assert [s.name for s in st] == ["encoder.conv1", "encoder.conv2", "encoder.layers.0-1", "encoder.layer_norm"]
    assert st[1].shape == (1, 1500, model.config.d_model)  # stride-2 conv halves 3000 frames
    fig = architecture_figure(st, "whisper encoder")
    texts = [t.get_text() for t in fig.axes[0].texts]
    for s in st:
        assert any(t.startswith(s.name) for t in texts) and s.shape_text in texts
    view = ArchitectureView(st, "whisper encoder")
    assert view.summary().splitlines()[3].split() == ["encoder.layers.0-1", "x2", "1", "x", "1500", "x", "64"]


def test_long_stage_names_do_not_run_into_their_shapes():
    names = ["flow.decoder.estimator.mid_blocks.0.1.0", "flow.decoder.estimator.mid_blocks.1.1.0",
             "flow.decoder.estimator.down_blocks.0.1.0", "hift.audio"]
    shapes = {n: (2, 100, 32) for n in names[:3]} | {names[3]: (1, 28800)}
    st = stages_from_shapes(shapes)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = architecture_figure(st, "long names")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = fig.axes[0].texts
    for label, shape in zip(texts[::2], texts[1::2]):  # each box: its name (left), then its shape (right)
        assert label.get_window_extent(renderer).x1 < shape.get_window_extent(renderer).x0, label.get_text()


def test_a_long_title_and_subtitle_wrap_inside_a_narrow_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    st = stages_from_shapes({"encoder.conv1": (1, 3000, 384), "decoder.logits": (1, 13, 51864)})
    subtitle = ", ".join(f"setting_number_{i} {i}" for i in range(8))
    fig = architecture_figure(st, "whisper (whisper-tiny.en): stages and tensor shapes", subtitle)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    title = fig.axes[0].title
    box, figure_box = title.get_window_extent(canvas.get_renderer()), fig.bbox
    assert box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1, (box, figure_box)
    assert title.get_text().replace("\n", " ").endswith(subtitle.split(", ")[-1]) and "\n" in title.get_text()


def test_a_long_model_wraps_into_bands_that_fit_a_notebook():
    from mlx_audio_lab.inspect.architecture import MAX_WIDTH_IN, box_position, layout

    assert layout(10, 4.0) == (1, 1, 10)  # a short model: one column
    assert layout(28, 4.0) == (1, 2, 14)  # two columns fit 12.5 in side by side
    assert layout(54, 4.4) == (2, 2, 14)  # 4 columns of 14 would be 20 in wide: two bands of two columns
    bands, per_band, rows = layout(54, 4.4)
    step = 5.0
    assert box_position(13, rows, per_band, step) == (0.0, -13 * 0.55)  # bottom of the first column
    assert box_position(14, rows, per_band, step) == (step, 0.0)  # top of the second
    x, y = box_position(28, rows, per_band, step)  # the first box of the second band: left, below the first band
    assert x == 0.0 and y < box_position(13, rows, per_band, step)[1] - 0.55
    st = stages_from_shapes({f"part{i}.stage_with_a_long_name": (1, 100 + i, 512) for i in range(54)})
    fig = architecture_figure(st, "long model")
    assert fig.get_size_inches()[0] <= MAX_WIDTH_IN and len(fig.axes[0].texts) == 2 * 54
