"""The benchmark helpers that are pure functions: timing statistics, interleaving, the README table, configs.

Speed itself is never asserted; benchmarks/ is not collected (it lives outside tests/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root holds benchmarks/

from benchmarks import harness, report  # noqa: E402


def test_stats_median_spread_and_interleaving():
    order: list[str] = []
    ticks = iter(range(100))
    res = harness.compare({"a": (lambda: order.append("a"), lambda _o: None),
                           "b": (lambda x: order.append(f"b{x}"), lambda _o: None, lambda: next(ticks))},
                          warmup=1, repeats=3)
    assert order == ["a", "b0", "a", "b1", "a", "b2", "a", "b3"]  # warm-ups, then A, B, A, B ...
    assert len(res["a"]["runs_s"]) == 3 and res["a"]["min_s"] <= res["a"]["median_s"] <= res["a"]["max_s"]
    st = harness._stats([4.0, 1.0, 3.0, 2.0])
    assert st["median_s"] == 2.5 and st["min_s"] == 1.0 and st["max_s"] == 4.0
    assert st["iqr_s"] == pytest.approx(2.5)  # quartiles (exclusive method): 1.25 and 3.75
    stage = harness.stage({"mlx_audio_lab": {"median_s": 2.0}, "torch": {"median_s": 6.0}}, 30.0, "audio_s_per_s")
    assert stage["mlx_audio_lab"]["audio_s_per_s"] == 15.0 and stage["mlx_audio_lab"]["vs_torch"] == 3.0
    assert harness.bandwidth_fraction(1e9, 0.1, 20.0) == pytest.approx(0.5)


def test_context_rejects_bad_device_and_dtype():
    with pytest.raises(ValueError, match="device"):
        harness.Context(device="tpu")
    with pytest.raises(ValueError, match="dtype"):
        harness.Context(dtype="int8")
    assert harness.Context(options={"steps": "8", "full": "0"}).option("steps", 32) == 8
    assert harness.Context(options={"full": "0"}).option("full", True) is False


def _doc(model: str, summary: dict) -> dict:
    return {"schema": "bench/1", "model": model, "device": "cpu",
            "dtypes": {"float32": {"summary": summary, "machine": {"cpu": "Test CPU"}}}}


def test_report_table_from_stored_results(tmp_path):
    (tmp_path / "whisper-tiny-cpu.json").write_text(json.dumps(_doc("whisper-tiny", {
        "mlx_audio_lab": harness.summary_row(audio_s_per_s=13.36, tokens_per_s=41.07, rtf=0.0834, peak_mb=246.1,
                                             vs_torch=2.531, note="30 s window"),
        "torch": harness.summary_row(audio_s_per_s=7.0, tokens_per_s=20.0, rtf=0.2111, peak_mb=144.2, vs_torch=1.0),
    })))
    (tmp_path / "blas-cpu.json").write_text(json.dumps({"results": []}))  # not a benchmark document: skipped
    docs = report.load_results(tmp_path)
    assert [d["model"] for d in docs] == ["whisper-tiny"]
    assert report.rows(docs) == [
        ["whisper-tiny", "cpu", "float32", "this port (MLX)", "13", "41", "0.083", "250", "2.5x", "30 s window"],
        ["whisper-tiny", "cpu", "float32", "PyTorch reference", "7", "20", "0.21", "140", "1x", ""],
    ]
    body = report.table(docs)
    readme = f"intro\n{report.BEGIN}\nold table\n{report.END}\nrest\n"
    new = report.splice(readme, body)
    assert new.startswith("intro\n") and new.endswith(f"{report.END}\nrest\n") and "old table" not in new
    assert report.splice(new, body) == new  # idempotent: --check passes right after a rewrite
    with pytest.raises(ValueError, match="markers"):
        report.splice("no markers", body)


def test_report_marks_cpu_runs_on_a_loaded_machine():
    doc = _doc("m", {"torch": harness.summary_row(audio_s_per_s=1.0, vs_torch=1.0, note="10 s")})
    doc["dtypes"]["float32"]["machine"].update(cores=2, load_average_start=[3.14, 2.0, 2.0])
    assert report.rows([doc])[0][-1] == "10 s; LOADED (load 3.1 on 2 cores)"
    doc["dtypes"]["float32"]["machine"]["load_average_start"] = [1.2, 2.0, 2.0]
    assert report.rows([doc])[0][-1] == "10 s"


@pytest.mark.reference
@pytest.mark.parametrize("name, cls", [("whisper-tiny", "WhisperForConditionalGeneration"),
                                       ("whisper-large-v3-turbo", "WhisperForConditionalGeneration"),
                                       ("wav2vec2-base", "Wav2Vec2ForCTC"), ("parakeet-tdt-0.6b-v2", "ParakeetForTDT"),
                                       ("voxtral-mini-3b-2507", "VoxtralForConditionalGeneration")])
def test_stt_configs_give_the_published_parameter_counts(name, cls):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = harness.load_config(name)
    config_cls = getattr(transformers, cls.replace("ForConditionalGeneration", "").replace("ForCTC", "")
                         .replace("ForTDT", "TDT") + "Config")
    with torch.device("meta"):  # shapes only: no memory, no time
        model = getattr(transformers, cls)(config_cls(**config))
    check = harness.check_params(name, harness.param_count(model))
    assert check["expected_params"] and check["params_match"], check


def test_report_plot_writes_ratios_marks_failures_and_reduced_runs():
    import matplotlib

    matplotlib.use("Agg")
    ok = _doc("codec", {"mlx_audio_lab": harness.summary_row(rtf=0.5, vs_torch=2.0),
                        "torch": harness.summary_row(rtf=1.0, vs_torch=1.0)})
    ok["dtypes"]["float32"]["errors"] = {"mlx_audio": "ValueError: bad weights\nmore lines"}
    cut = _doc("big", {"mlx_audio_lab": harness.summary_row(rtf=0.2, vs_torch=1.3),
                       "torch": harness.summary_row(rtf=0.3, vs_torch=1.0)})
    cut["dtypes"]["float32"]["layers"] = {"audio_layers": 1, "text_layers": 2, "reduced": True,
                                          "of": {"audio_layers": 32, "text_layers": 30}}
    docs = [ok, cut]
    reduced = "big float32 (REDUCED: 1/32 audio + 2/30 text layers)"
    assert report.label(cut, "float32", cut["dtypes"]["float32"]) == reduced
    assert report.failures(docs) == [("codec float32", "cpu", "mlx_audio", "ValueError: bad weights")]
    ax = report.plot(docs, "vs_torch", device="cpu")
    assert len(ax.patches) == 2  # the port's two bars; PyTorch is the line at 1, not bars of 1
    texts = [t.get_text() for t in ax.texts]
    assert " 2x" in texts and " 1.3x" in texts
    assert "mlx-audio 0.6.2 (MLX) failed: ValueError: bad weights" in texts
    assert [t.get_text() for t in ax.get_yticklabels()][1].endswith("(REDUCED: 1/32 audio + 2/30 text layers)")
    fig = ax.figure  # the legend sits between the axes and the title, overlapping neither
    fig.canvas.draw()
    title, legend = ax.title.get_window_extent(), ax.get_legend().get_window_extent()
    assert legend.y1 <= title.y0 and legend.y0 >= ax.get_window_extent().y1 - 1
    fig = report.plot_panels(docs, ("rtf", "vs_torch"))  # stacked, each panel as tall as its bars need
    assert [a.get_title() for a in fig.axes] == ["real-time factor (lower is faster), cpu",
                                                 "speed vs PyTorch (x, higher is faster), cpu"]
    # rtf: run 1 has two bars and the failed mlx-audio, run 2 two bars: 5 bars and 2 gaps
    assert report.panel_height(docs, "rtf") == pytest.approx(0.17 * (5 + 2 * report.GROUP_GAP) + 1.8)


def test_layer_profile_times_every_module_once_per_call_and_nests():
    """`benchmarks.layer_profile`: each module call timed between eval barriers, self time = inclusive less timed
    children, rows at the asked depth with the matched reference's ms; the patched classes are restored."""
    import time

    import mlx.core as mx
    import mlx.nn as nn

    from benchmarks import layer_profile as profile

    class Slow(nn.Module):
        def __call__(self, x):
            time.sleep(0.01)
            return x + 1

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [Slow(), Slow()]

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x * 2

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.tail = Block(), Slow()

    root = Root()
    original = Slow.__call__
    times = profile.profile_mlx(root, lambda: root.tail(root.block(mx.zeros((3,)))), repeats=2, max_depth=3)
    assert Slow.__call__ is original and times.runs == 2
    assert times.calls == {"block.layers.0": 2, "block.layers.1": 2, "block": 2, "tail": 2}
    children = times.inclusive["block.layers.0"] + times.inclusive["block.layers.1"]
    assert times.inclusive["block"] >= children >= 0.04
    assert times.own["block"] == pytest.approx(times.inclusive["block"] - children)
    ref = profile.LayerTimes(inclusive={"block": 0.1}, runs=2)
    rows = profile.table(times, ref, depth=1, top=5)
    assert [r["layer"] for r in rows] == ["block", "tail"]  # largest first
    assert rows[0]["torch_ms"] == pytest.approx(50.0) and rows[0]["speed_vs_torch"] > 0 and "torch_ms" not in rows[1]
    deep = {r["layer"] for r in profile.table(times, None, depth=2, top=5)}
    assert deep == {"block.layers.0", "block.layers.1", "tail"}  # tail: a shallower leaf
