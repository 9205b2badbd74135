"""Architecture stages from a compare_modules report: depth filter, repeated blocks folded only when identical."""

from __future__ import annotations

from types import SimpleNamespace

from mlx_audio_lab.inspect.architecture import architecture_figure
from mlx_audio_lab.inspect.module_tree import depth, fold_blocks, report_stages


def _block(i: int, width: int = 8) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"layers.{i}.attention.q_proj", (1, 12, width)), (f"layers.{i}.attention", (1, 12, width)),
            (f"layers.{i}.mlp", (1, 12, width)), (f"layers.{i}", (1, 12, width))]


def test_depth_ignores_layer_indices():
    assert [depth(n) for n in ("embeddings", "layers.0", "layers.0.mlp.fc1", "a.b.0.c.1.d")] == [1, 1, 3, 4]


def test_identical_blocks_fold_and_others_stay():
    rows = [("embeddings.patch", (1, 10, 8)), ("embeddings", (1, 12, 8)), *_block(0), *_block(1), *_block(2),
            ("layernorm", (1, 12, 8))]
    stages = fold_blocks(rows)
    assert [(s.name, s.count) for s in stages] == [
        ("embeddings.patch", 1), ("embeddings", 1), ("layers.0-2.attention.q_proj", 3), ("layers.0-2.attention", 3),
        ("layers.0-2.mlp", 3), ("layers.0-2", 3), ("layernorm", 1)]
    assert stages[2].taps == ("layers.0.attention.q_proj", "layers.1.attention.q_proj", "layers.2.attention.q_proj")


def test_a_block_of_another_shape_is_not_folded():
    stages = fold_blocks([*_block(0), *_block(1, width=16)])
    assert [s.count for s in stages] == [1] * 8
    assert stages[4].name == "layers.1.attention.q_proj" and stages[4].shape == (1, 12, 16)


def test_report_rows_filtered_by_depth_and_drawn():
    rows = [("embeddings.patch.projection", (1, 2, 5, 8)), ("embeddings", (1, 12, 8)), *_block(0), *_block(1)]
    report = SimpleNamespace(layers=[SimpleNamespace(name=n, shape=list(s)) for n, s in rows])
    stages = report_stages(report, max_depth=2)
    assert [(s.name, s.count, s.shape) for s in stages] == [
        ("embeddings", 1, (1, 12, 8)), ("layers.0-1.attention", 2, (1, 12, 8)), ("layers.0-1.mlp", 2, (1, 12, 8)),
        ("layers.0-1", 2, (1, 12, 8))]
    assert len(report_stages(report)) == 1 + 1 + 4  # no filter: the projection kept, the blocks folded
    fig = architecture_figure(stages, "test")
    assert "layers.0-1.mlp  x2" in [t.get_text() for t in fig.axes[0].texts]
