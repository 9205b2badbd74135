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
    assert [a.get_ylabel() for a in fig.axes] == ["tokens", "time (ms)", "memory (MB)"]
    insp.selected = 2
    assert insp.status().startswith("token 2 (t2): 1 tokens")
