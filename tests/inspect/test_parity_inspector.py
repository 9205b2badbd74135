"""ParityInspector core: element differences (histogram, worst positions), tensors kept by run_with_tensors."""

from __future__ import annotations

import types

import numpy as np
import pytest

from mlx_audio_lab.inspect import ParityInspector, ParityRun, differences, run_with_tensors
from mlx_audio_lab.inspect.parity import parity_figure, worst_table
from mlx_audio_lab.parity import TapPoint
from mlx_audio_lab.parity.core import compare, report_from_json


def test_differences_histogram_and_worst_positions():
    want = np.zeros((2, 3, 4))
    got = want.copy()
    got[1, 2, 3] = 1e-3
    got[0, 1, 0] = -1e-5
    got[0, 0, 2] = 1e-7
    d = differences(got, want, bins=6, k=2)
    assert d.zeros == 21 and int(d.counts.sum()) == 3
    assert d.edges[0] == pytest.approx(1e-7) and d.edges[-1] == pytest.approx(1e-3)
    assert d.worst_index == [(1, 2, 3), (0, 1, 0)]
    np.testing.assert_allclose(d.worst_diff, [1e-3, 1e-5])
    np.testing.assert_allclose(d.worst_mlx, [1e-3, -1e-5])
    assert worst_table(d).splitlines()[1].startswith("(1, 2, 3)")
    with pytest.raises(ValueError):
        differences(got, want[:1])


def _run() -> ParityRun:
    rng = np.random.default_rng(0)
    ref = {"a": rng.standard_normal((1, 5, 3)), "b": rng.standard_normal((1, 5, 3))}
    mlx = {"a": ref["a"] + 1e-7, "b": ref["b"] + np.where(np.arange(15).reshape(1, 5, 3) == 7, 0.5, 0.0)}
    points = [TapPoint("a", "a"), TapPoint("b", "b")]
    return ParityRun(compare("toy", points, mlx, ref, outputs_match=False), mlx, ref)


def test_inspector_picks_first_divergence_and_shows_details():
    run = _run()
    insp = ParityInspector(run)
    assert insp.layer == "b"  # the first divergence
    assert insp.summary() == ("ParityInspector: toy, 1/2 layers within tolerance, first divergence: b, "
                              "outputs match: NO")
    assert insp.details().worst_index[0] == (0, 2, 1)  # flat index 7 of (1, 5, 3)
    fig = parity_figure(run.report, "b", run)
    assert [a.get_xlabel() for a in fig.axes][1] == "|MLX - PyTorch| per element"
    assert fig.axes[0].get_xticklabels()[1].get_color() == "tab:red"
    assert insp.widget is not None
    assert "(0, 2, 1)" in insp._table.value
    # a saved report (no tensors): bars only
    bare = ParityInspector(report_from_json(run.report.to_json()))
    assert bare.details() is None and len(bare.figure().axes) == 1


def test_run_with_tensors_keeps_both_sides_in_mlx_layout(monkeypatch, tmp_path):
    ref_acts = {"m.conv": np.arange(6.0).reshape(1, 2, 3), "m.out": np.ones((1, 3))}
    fake = types.SimpleNamespace(
        parity_inputs=lambda folder: {"x": np.zeros(1)},
        run_reference=lambda folder, inputs: (ref_acts, {"y": 1}),
        run_mlx=lambda folder, inputs: ({"conv": np.arange(6.0).reshape(1, 2, 3).swapaxes(1, 2),
                                         "out": np.ones((1, 3)) + 1e-6}, {"y": 1}),
        outputs_match=lambda a, b: (a == b, "same"),
        tap_points=lambda folder: [TapPoint("conv", "m.conv", layout="channels_first"), TapPoint("out", "m.out")],
    )
    import mlx_audio_lab.fixtures as fixtures
    import mlx_audio_lab.parity.core as core

    monkeypatch.setattr(core, "_reference_module", lambda model_type: fake)
    monkeypatch.setattr(fixtures, "build", lambda model_type: tmp_path)
    run = run_with_tensors("whisper")
    assert run.report.ok and [r.name for r in run.report.layers] == ["conv", "out"]
    assert run.ref["conv"].shape == (1, 3, 2)  # transposed like the MLX side
    got, want = run.pair("out")
    assert differences(got, want).worst_diff[0] == pytest.approx(1e-6)
