"""benchmarks/server_load.py at a tiny size against the live test server: every request is counted once and
the statistics are consistent (speed itself is never asserted)."""

from __future__ import annotations

import sys

import pytest
from live_server import ROOT

sys.path.insert(0, str(ROOT))  # the repo root holds benchmarks/

from benchmarks.server_load import percentile, run_load  # noqa: E402


def test_percentile_matches_numpy():
    import numpy as np

    xs = [0.3, 0.1, 0.7, 0.2, 0.9]
    for q in (0, 50, 95, 100):
        assert percentile(xs, q) == pytest.approx(np.percentile(xs, q))


def test_server_load_benchmark_runs_tiny(server, clip):
    out = run_load(server.url, "fixture:wav2vec2", clip.read_bytes(), requests=6, concurrency=3)
    assert sum(out["statuses"].values()) == 6 and set(out["statuses"]) <= {"200", "429", "503"}
    assert out["p50_s"] <= out["p95_s"] <= out["max_s"] and out["throughput_per_s"] > 0
