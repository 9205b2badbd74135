"""`mlx-audio-lab new-port`: the house template, registered, and failing honestly until filled in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlx_audio_lab import cli

PACKAGE = Path(cli.__file__).resolve().parent


@pytest.fixture
def checkout(tmp_path):
    """A throwaway checkout holding a copy of the package."""
    shutil.copytree(PACKAGE, tmp_path / "mlx_audio_lab", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_new_port_writes_registers_and_fails_honestly(checkout, capsys):
    rc = cli.main(["new-port", "tiny_ast", "--family", "stt", "--reference",
                   "transformers.ASTModel", "--root", str(checkout)])
    assert rc == 0
    port = checkout / "mlx_audio_lab" / "models" / "stt" / "tiny_ast"
    assert sorted(p.name for p in port.iterdir()) == ["__init__.py", "config.py", "convert.py", "load.py",
                                                       "model.py", "reference.py"]
    nb = json.loads((checkout / "notebooks" / "stt" / "tiny_ast.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "mlx-audio-lab"
    assert [c["source"] for c in nb["cells"] if c["cell_type"] == "markdown"][1:] == [
        "## Load", "## Listen", "## Look inside", "## Prove parity", "## Cost"]
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        lint = subprocess.run([str(ruff), "check", "--no-cache", "--config", str(PACKAGE.parent / "pyproject.toml"),
                               str(port), str(checkout / "tests")], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    code = ("import mlx.core as mx\n"
            "from mlx_audio_lab.registry import spec_for\n"
            "port = spec_for('tiny_ast').port()\n"
            "try:\n    port.Model(port.TinyAstConfig())(mx.zeros((1, 4)))\n"
            "except NotImplementedError as e:\n    print('NotImplementedError:', e)\n")
    env = {**os.environ, "PYTHONPATH": str(checkout)}  # the checkout's package wins (start-up hooks import it)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=checkout, env=env)
    assert "NotImplementedError: tiny_ast: write the forward pass" in run.stdout, run.stderr
    assert "tiny_ast" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["Bad-Name", "--family", "stt", "--reference", "a.B"], "lower_snake_case"),
    (["ok_name", "--family", "stt", "--reference", "NoModule"], "package.module.Class"),
    (["whisper", "--family", "stt", "--reference", "transformers.WhisperModel"], "already registered"),
])
def test_bad_scaffold_requests_are_clear_errors(checkout, capsys, argv, message):
    assert cli.main(["new-port", *argv, "--root", str(checkout)]) == 2
    assert message in capsys.readouterr().err
    assert not (checkout / "tests").exists()


def test_generated_reference_names_its_class(checkout):
    from mlx_audio_lab.scaffold import new_port

    new_port("tiny_enc", "codecs", "transformers.EncodecModel", checkout)
    text = (checkout / "mlx_audio_lab" / "models" / "codecs" / "tiny_enc" / "reference.py").read_text()
    assert 'REFERENCE = "transformers.EncodecModel"' in text and "def build_fixture" in text
    registry = (checkout / "mlx_audio_lab" / "registry.py").read_text()
    assert registry.count('"tiny_enc", "codecs", "mlx_audio_lab.models.codecs.tiny_enc"') == 1
