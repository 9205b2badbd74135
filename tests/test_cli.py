"""The `mlx-audio-lab` command line, run as a user would (subprocess, JSON parsed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", *args], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def test_models_json_lists_whisper():
    rows = json.loads(cli("models", "--json").stdout)
    whisper = next(r for r in rows if r["model_type"] == "whisper")
    assert whisper["family"] == "stt" and whisper["notebook"] == "notebooks/stt/whisper.ipynb"
    assert "whisper" in cli("models").stdout


def test_fixtures_build_prints_folders(whisper_fixture):
    out = cli("fixtures", "build", "whisper").stdout.strip().splitlines()
    assert out == [str(whisper_fixture)]


def test_parity_fixture_json_ok():
    p = cli("parity", "whisper", "--weights", "fixture", "--json")
    report = json.loads(p.stdout)
    assert report["ok"] is True and report["first_divergence"] is None and report["outputs_match"] is True
    assert set(report) >= {"model", "layers", "first_divergence", "outputs_match", "ok"}
    assert {"name", "shape", "max_abs", "rel_err", "tol", "ok"} <= set(report["layers"][0])
    assert all(r["max_abs"] <= 1e-4 for r in report["layers"] if r["name"] != "decoder.logits")


def test_parity_record_then_replay(tmp_path):
    out = tmp_path / "whisper-ref.safetensors"
    cli("parity", "record", "whisper", "--out", str(out))
    assert out.is_file()
    report = json.loads(cli("parity", "whisper", "--recording", str(out), "--json").stdout)
    assert report["ok"] is True and report["extras"]["reference"] == "recorded"


@pytest.mark.slow
def test_parity_real_tiny_en_ok():
    report = json.loads(cli("parity", "whisper", "--weights", "whisper-tiny.en", "--json").stdout)
    assert report["ok"] is True, report
    assert report["outputs_match"] is True


def test_unknown_model_type_is_a_clear_error():
    p = cli("parity", "wavenet", check=False)
    assert p.returncode == 2
    assert "unknown model_type 'wavenet'; known model types:" in p.stderr
    assert "Traceback" not in p.stderr


def test_hub_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "mlx_audio_lab", "transcribe", "--model", "openai/whisper-tiny",
                        "x.wav"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "HF_HUB_OFFLINE=1 is set" in p.stderr and "whisper-tiny.en" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("model_type", ["whisper", "snac", "kokoro"])
def test_convert_to_mlx_community_layout_loads_back_equal(model_type, tmp_path):
    """`convert --layout mlx-community` writes the port's community layout; loading it gives the same weights."""
    import numpy as np
    from mlx.utils import tree_flatten

    import mlx_audio_lab
    from mlx_audio_lab.fixtures import build

    folder = build(model_type)
    out = tmp_path / "community"
    assert cli("convert", "--model", str(folder), "--out", str(out), "--layout", "mlx-community").stdout.strip()
    original = dict(tree_flatten(mlx_audio_lab.load(folder).parameters()))
    again = dict(tree_flatten(mlx_audio_lab.load(out).parameters()))
    assert again.keys() == original.keys()
    # mlx-examples Whisper files omit the encoder's fixed sinusoids (recomputed at load); the fixture's are noised
    fixed = {"encoder.embed_positions.weight"}
    worst = max(float(np.abs(np.array(again[k]) - np.array(v)).max()) for k, v in original.items() if k not in fixed)
    assert worst <= 1e-6, worst
    assert len({float(np.abs(np.array(v)).sum()) for v in original.values()}) > 10  # the weights are not constant
