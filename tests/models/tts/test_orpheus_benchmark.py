"""The Orpheus benchmark: the real config gives the expected parameter count; the script runs at a tiny size."""

from __future__ import annotations

import pytest

from benchmarks import harness


def test_real_config_gives_the_expected_parameter_count():
    import torch
    import transformers

    config = harness.load_config("orpheus-3b-0.1-ft")
    with torch.device("meta"):  # shapes only
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    check = harness.check_params("orpheus-3b-0.1-ft", harness.param_count(model))
    assert check["params_match"], check


def test_benchmark_runs_tiny_and_the_port_agrees_with_torch():
    from benchmarks.models import orpheus

    ctx = harness.Context(repeats=1, warmup=0, options={"layers": "1", "hidden": "128", "vocab": "512",
                                                        "steps": "6", "prompt": "5"})
    out = orpheus.run(ctx)
    assert out["shape"]["reduced"] and set(out["summary"]) == {"mlx_audio_lab", "torch"}
    assert out["per_engine"]["mlx_audio_lab"]["tokens_agree_with_torch"] == pytest.approx(1.0)
    assert out["summary"]["mlx_audio_lab"]["tokens_per_s"] > 0 and out["limits"]["decode_bytes_per_step"] > 0
