"""Key-map coverage core: the same placement as `apply_keymap`, on shapes, with every failure kind counted."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.convert.keymap import CheckpointError, KeyMap, Rule, apply_keymap
from mlx_audio_lab.inspect.keymap_view import coverage_figure, keymap_coverage

TABLE = KeyMap(name="toy", rules=[
    Rule(r"model\.(conv)\.weight", r"\1.weight", "conv1d"),
    Rule(r"model\.head\.weight", None),
    Rule(r"model\.(.+)", r"\1"),
])
STATE = {"model.conv.weight": np.zeros((8, 3, 5)), "model.conv.bias": np.zeros(8), "model.head.weight": np.zeros(4),
         "model.norm.weight": np.zeros(8)}
EXPECTED = {"conv.weight": (8, 5, 3), "conv.bias": (8,), "norm.weight": (8,)}


def _shapes(state):
    return {k: v.shape for k, v in state.items()}


def test_a_fitting_table_places_every_key_like_apply_keymap():
    c = keymap_coverage(_shapes(STATE), TABLE, EXPECTED)
    assert [len(r.keys) for r in c.rules] == [1, 1, 2] and [r.kind for r in c.rules] == ["re-laid-out", "dropped",
                                                                                         "renamed"]
    assert c.ok and c.filled == sorted(apply_keymap(STATE, TABLE, EXPECTED)) and c.n_keys == 4


def test_each_failure_kind_is_counted_where_apply_keymap_raises():
    state = dict(STATE, **{"other.x": np.zeros(2), "model.norm.weight": np.zeros(9)})
    state.pop("model.conv.bias")
    c = keymap_coverage(_shapes(state), TABLE, dict(EXPECTED, **{"extra.w": (1,)}))
    assert c.unplaced == ["other.x"] and c.misshaped == [("norm.weight", (9,), (8,))]
    assert c.missing == ["conv.bias", "extra.w"] and not c.ok
    with pytest.raises(CheckpointError) as err:
        apply_keymap(state, TABLE, dict(EXPECTED, **{"extra.w": (1,)}))
    assert err.value.missing == c.missing and [m[0] for m in err.value.misshaped] == ["norm.weight"]
    assert err.value.unexpected == ["other.x"]


def test_figure_counts_match_the_coverage():
    c = keymap_coverage(_shapes(STATE), TABLE, dict(EXPECTED, **{"extra.w": (1,)}))
    fig = coverage_figure(c, title="toy")
    left, right = fig.axes[:2]
    assert [p.get_width() for p in left.patches] == [1, 1, 2, 0]
    assert [p.get_width() for p in right.patches] == [3, 0, 1, 0]
    assert "4 checkpoint tensors" in left.get_title() and "does NOT fit" in right.get_title()
    assert left.get_xlabel() == "checkpoint tensors (count)"
