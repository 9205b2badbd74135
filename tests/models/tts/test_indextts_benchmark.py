"""The IndexTTS benchmark script runs at a tiny size and the port's greedy codes agree with the reference's."""

from __future__ import annotations

import pytest

from benchmarks import harness


def test_benchmark_runs_tiny_and_the_port_agrees_with_torch():
    from benchmarks.models import indextts

    ctx = harness.Context(repeats=1, warmup=0, options={"size": "tiny", "steps": "6", "seconds": "0.5",
                                                        "text": "5"})
    out = indextts.run(ctx)
    assert out["shape"]["reduced"] and set(out["summary"]) == {"mlx_audio_lab", "torch"}
    assert out["per_engine"]["mlx_audio_lab"]["codes_agree_with_torch"] == pytest.approx(1.0)
    assert out["summary"]["mlx_audio_lab"]["tokens_per_s"] > 0


def test_s2mel_benchmark_runs_tiny_and_the_port_agrees_with_torch():
    from benchmarks.models import indextts_s2mel

    ctx = harness.Context(repeats=1, warmup=0, options={"size": "tiny", "steps": "3", "seconds": "0.5",
                                                        "prompt": "0.5"})
    out = indextts_s2mel.run(ctx)
    assert out["shape"]["reduced"] and set(out["summary"]) == {"mlx_audio_lab", "torch"}
    assert out["per_engine"]["mlx_audio_lab"]["max_abs_mel_vs_torch"] <= 1e-4
    assert out["summary"]["mlx_audio_lab"]["audio_s_per_s"] > 0
