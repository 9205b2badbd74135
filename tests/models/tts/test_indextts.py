"""IndexTTS 2 GPT stage: parity with `indextts2-inference`'s UnifiedVoice per named layer (Conformer, perceiver,
emotion vector, GPT-2 prompt forward), per-step logits through the KV cache, greedy and sampled codes; the conditioning
reaches the codes; the fixture and the CLI `parity` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlx_audio_lab import parity
from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.indextts import reference as ref


@pytest.fixture(scope="module")
def folder():
    return build("indextts")


@pytest.fixture(scope="module")
def report(folder):
    return parity.run("indextts", weights=folder)


@pytest.fixture(scope="module")
def model(folder):
    from mlx_audio_lab import load

    return load(folder)


def test_fixture_is_upstream_layout(folder):
    import yaml

    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    assert cfg["gpt_checkpoint"] == "gpt.pth" and cfg["gpt"]["condition_type"] == "conformer_perceiver"
    assert (folder / "gpt.pth").is_file()


def test_parity_every_named_layer_and_greedy_codes(report, folder):
    names = [r.name for r in report.layers]
    assert names == [p.name for p in ref.tap_points(folder)] + ["generation.step_logits", "generation.greedy_codes",
                                                                "generation.sampled_codes"]
    assert report.ok, report.table()
    rows = {r.name: r for r in report.layers}
    assert all(r.max_abs <= 1e-4 for r in report.layers[:-1]), report.table()
    assert rows["generation.greedy_codes"].max_abs == 0 and rows["generation.greedy_codes"].shape[1] >= 16
    assert rows["generation.sampled_codes"].max_abs == 0 and rows["generation.sampled_codes"].shape[1] >= 5


def test_sampling_departs_from_greedy(model, folder):
    """Upstream's sampling settings with seeded draws give other codes than greedy (the sampler is exercised)."""
    from mlx_audio_lab.generation import RecordedDraws
    from mlx_audio_lab.models.tts.indextts.generate import generate_codes

    inputs = ref.parity_inputs(folder)
    greedy = [s.token for s in generate_codes(model, inputs["features"], inputs["text"], max_steps=30)]
    sampled = [s.token for s in generate_codes(model, inputs["features"], inputs["text"], ref.PARITY_SAMPLING,
                                               RecordedDraws(inputs["draws"]), max_steps=30)]
    assert sampled[: len(greedy)] != greedy[: len(sampled)]


def test_greedy_codes_vary_and_stop(model, folder):
    from mlx_audio_lab.models.tts.indextts.generate import generate_codes

    inputs = ref.parity_inputs(folder)
    codes = [s.token for s in generate_codes(model, inputs["features"], inputs["text"], max_steps=80)]
    assert codes[-1] == model.config.stop_mel_token and len(codes) < 80
    assert len(set(codes)) >= 6  # not a constant code


def test_conditioning_reaches_the_codes(model, folder):
    """Another voice (features) or another text gives other codes; same inputs give the same codes."""
    from mlx_audio_lab.models.tts.indextts.generate import generate_codes

    inputs = ref.parity_inputs(folder)

    def codes(features, text):
        return [s.token for s in generate_codes(model, features, text, max_steps=20)]

    base = codes(inputs["features"], inputs["text"])
    assert codes(inputs["features"], inputs["text"]) == base
    other_voice = np.random.default_rng(5).standard_normal(inputs["features"].shape).astype(np.float32)
    assert codes(other_voice, inputs["text"]) != base
    assert codes(inputs["features"], inputs["text"][:, ::-1].copy()) != base


def test_parity_cli_json(folder, capsys):
    from mlx_audio_lab.cli import main

    assert main(["parity", "indextts", "--weights", "fixture", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and any(r["name"] == "generation.greedy_codes" for r in out["layers"])


def test_convert_to_mlx_layout_round_trips(folder, model, tmp_path):
    """`convert` writes config.json + model.safetensors; the loaded copy writes the same greedy codes."""
    from mlx_audio_lab import load
    from mlx_audio_lab.cli import main
    from mlx_audio_lab.models.tts.indextts.generate import generate_codes

    out = tmp_path / "mlx"
    assert main(["convert", "--model", str(folder), "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and json.loads((out / "config.json").read_text())["model_type"] == \
        "indextts"
    inputs = ref.parity_inputs(folder)
    again = load(out)
    codes = [[s.token for s in generate_codes(m, inputs["features"], inputs["text"], max_steps=30)]
             for m in (model, again)]
    assert codes[0] == codes[1] and len(set(codes[0])) >= 6


def test_real_config_builds_with_the_reference_parameter_count():
    """IndexTTS-2's gpt config: the MLX model holds as many parameters as UnifiedVoice (less its training-only text
    head), shapes only (torch on the meta device, MLX arrays never evaluated)."""
    import torch
    from mlx.utils import tree_flatten

    from mlx_audio_lab.models.tts.indextts import IndexTTS, IndexTTSConfig

    with torch.device("meta"):
        upstream = ref._unified_voice(ref.SIZES["real"])
    want = sum(p.numel() for n, p in upstream.named_parameters() if not n.startswith("text_head."))
    port = IndexTTS(IndexTTSConfig.from_dict(ref.SIZES["real"]))
    got = sum(v.size for _, v in tree_flatten(port.parameters()))
    assert got == want and got > 1_000_000_000 // 2
