"""GenerationInspector core: timelines from decoder steps, TTS chunks and transcripts."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect import DecodeStep, GenerationInspector, timeline
from mlx_audio_lab.inspect.generation import timeline_figure
from mlx_audio_lab.results import AudioResult, RunStats, Segment, Transcript


def test_timeline_from_decode_steps():
    steps = [DecodeStep(i, i, f"t{i}", [i], [1.0], [f"t{i}"], 0.01 * (i + 1), 100.0 + i) for i in range(4)]
    t = timeline(steps)
    assert t.n_steps == 4 and t.total_tokens == 4 and t.unit == "token"
    assert t.total_seconds == pytest.approx(0.1) and t.peak_memory_mb == 103.0


def test_timeline_from_audio_chunks_and_stats():
    chunks = [AudioResult(np.zeros(2400, np.float32), RunStats(24000, 0.1 * (i + 1), 0.05, 50.0 * (i + 1), 10))
              for i in range(3)]
    t = timeline(chunks)
    assert t.labels == ["chunk 0", "chunk 1", "chunk 2"] and t.total_tokens == 30
    np.testing.assert_allclose(t.audio_seconds, [0.1, 0.2, 0.3])
    assert t.peak_memory_mb == 150.0
    assert timeline([c.stats for c in chunks]).total_tokens == 30
    with pytest.raises(TypeError):
        timeline([1, 2])


def test_timeline_from_transcript_spreads_time_by_tokens():
    tr = Transcript("a b", [Segment(0.0, 1.0, "a", [1, 2, 3]), Segment(1.0, 1.5, "b", [4])], "en", [1, 2, 3, 4],
                    RunStats(16000, 1.5, 2.0, 80.0, 4))
    t = timeline(tr)
    np.testing.assert_allclose(t.seconds, [1.5, 0.5])
    assert t.unit == "segment" and t.labels == ["0.0-1.0 s", "1.0-1.5 s"]


def test_inspector_text_and_figure():
    steps = [DecodeStep(i, i, f"t{i}", [i], [1.0], [f"t{i}"], 0.01, 10.0) for i in range(3)]
    insp = GenerationInspector(steps)
    assert insp.summary() == "GenerationInspector: 3 tokens"
    fig = timeline_figure(insp.timeline, selected=1)
    assert [a.get_ylabel() for a in fig.axes] == ["time (ms)", "active memory (MB)"]  # one token per step
    assert fig.axes[0].get_title().startswith("3 decoding steps (one token each)")
    assert fig.axes[1].get_ylim() == (0.0, 20.0)  # memory flat at 10 MB: shown flat, not magnified
    insp.selected = 2
    assert insp.status().startswith("token 2 (t2): 1 tokens")


def test_sampling_trace_core_candidates_and_grid():
    from mlx_audio_lab.generation import Step
    from mlx_audio_lab.inspect import SamplingInspector, sampling_trace

    raw = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    cut = np.where(np.arange(4) < 2, raw, -np.inf)  # a top-2 filter
    steps = [Step(i, np.array([t]), 0.0, [("raw", raw), ("top_k", cut)]) for i, t in enumerate([1, 0, 1, 3])]
    cell = lambda i, t: (i % 2, i // 2, t) if t < 3 else None  # noqa: E731  (two rows; token 3 is not a code)
    tr = sampling_trace(steps, 2, cell, k=3, frame_seconds=0.5)
    first = tr.steps[0]
    assert [c.stage for c in first.stages] == ["raw", "top_k"] and first.chosen == 1
    np.testing.assert_allclose(first.stages[0].probs, [0.5, 0.3, 0.15])
    np.testing.assert_allclose(first.stages[1].probs, [0.5 / 0.8, 0.3 / 0.8, 0.0])
    assert first.stages[0].kept == 4 and first.stages[1].kept == 2
    assert first.stages[1].chosen_prob == pytest.approx(0.375)
    assert tr.grid.tolist() == [[1, 1], [0, -1]] and tr.filled_at.tolist() == [[0, 2], [1, -1]]
    assert tr.grid_at(1).tolist() == [[1, -1], [0, -1]]
    view = SamplingInspector(tr, step=2)
    assert "4 steps (raw -> top_k), grid 2 x 2 frames, 3 cells written" in view.summary()
    assert "token 1" in view.status()
    assert len(view.figure().axes) == 3  # candidates, grid, colorbar
