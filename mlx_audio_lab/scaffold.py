"""`mlx-audio-lab new-port`: a new port's folder, test and notebook from the house template, registered.

The files fail honestly until filled in: each unwritten piece raises NotImplementedError saying what to write,
and the generated test runs the parity check, so it stays red until the port matches its reference.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

FAMILIES = ("stt", "tts", "codecs", "vad", "sts")
_MARK = "\n]\n\nREGISTRY"  # the end of registry._SPECS, where new specs are appended

_INIT = '''"""{title}: MLX port of `{reference}` (scaffolded by `mlx-audio-lab new-port`)."""

from .config import {cls}Config
from .load import load_model
from .model import {cls}

Model = {cls}

__all__ = ["Model", "{cls}", "{cls}Config", "load_model"]
'''

_CONFIG = '''"""{cls}'s hyper-parameters, read from the upstream `config.json` (its source of truth)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class {cls}Config:
    """Add the fields the model reads, named as in the upstream config.json."""

    model_type: str = "{name}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> {cls}Config:
        known = {{f.name for f in fields(cls)}}
        return cls(**{{k: v for k, v in d.items() if k in known}})
'''

_MODEL = '''"""{cls} in MLX, top to bottom in the paper's words (channels-last; shapes in comments)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....taps import tap
from .config import {cls}Config


class {cls}(nn.Module):
    """Name submodules as the reference does, so the key map stays short and `compare_modules` pairs them."""

    def __init__(self, config: {cls}Config):
        super().__init__()
        self.config = config

    def __call__(self, x: mx.array) -> mx.array:
        x = tap("input", x)
        raise NotImplementedError("{name}: write the forward pass in models/{family}/{name}/model.py "
                                  "(tap each stage: x = tap('encoder.layers.0', x))")
'''

_CONVERT = '''"""{reference} checkpoints -> MLX parameters: the key map as data.

Start from the suggestion: `convert.suggest_keymap(state_dict, {cls}(config)).to_python()`.
"""

from __future__ import annotations

from ....convert.keymap import KeyMap

KEYMAP = KeyMap(name="{name}/upstream", rules=[])
'''

_LOAD = '''"""Folder -> ready {cls}, through the one loading path every port shares."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from .config import {cls}Config
from .convert import KEYMAP
from .model import {cls}


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> {cls}:
    """A {cls} with the folder's weights (safetensors first)."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    state, path = read_state_dict(folder)
    model = {cls}({cls}Config.from_dict(config))
    return fill_model(model, state, KEYMAP, config, path, dtype, quantize, group_size)
'''

_REFERENCE = '''"""The parity side of {name}: how `{reference}` is built and run, and where to tap it.

Runs only where torch is installed. `parity.compare_modules(port, reference, ...)` pairs submodules by name
with no declarations; the functions below are the protocol `mlx-audio-lab parity {name}` runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....parity import TapPoint

REFERENCE = "{reference}"


def reference_class():
    """The reference class, imported on demand."""
    import importlib

    module, name = REFERENCE.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a tiny seeded reference in the upstream layout (config.json + model.safetensors) into `folder`."""
    raise NotImplementedError(f"{{__name__}}: build a tiny seeded {{REFERENCE}} and save it in the upstream layout")


def parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    raise NotImplementedError("{name}: return the inputs both sides run on (numpy, reference layout)")


def tap_points(folder: Path) -> list[TapPoint]:
    raise NotImplementedError("{name}: list TapPoint(mlx tap name, reference module path, layout=...)")


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    raise NotImplementedError("{name}: run the reference under parity.torch_hooks.capture_torch")


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    raise NotImplementedError("{name}: run the port under taps.capture()")


def outputs_match(mlx_out: dict, ref_out: dict) -> tuple[bool, str]:
    raise NotImplementedError("{name}: compare the final outputs (identical tokens / codes, audio within tol)")
'''

_TEST = '''"""{cls}: every tap within tolerance of `{reference}` on its fixture (fails until the port is written)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


def test_parity_on_fixture():
    from mlx_audio_lab import parity

    report = parity.run("{name}")
    assert report.ok, report.table()
'''


def _notebook(name: str, family: str, cls: str, reference: str) -> dict:
    def md(text: str) -> dict:
        return {"cell_type": "markdown", "metadata": {}, "source": text}

    def code(text: str) -> dict:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": text}

    cells = [
        md(f"# {cls} in MLX\n\nWhich weights this notebook runs and why: a tiny seeded fixture built by "
           f"`{reference}` (say so, and what real weights would change)."),
        md("## Load"),
        code(f"import mlx_audio_lab\nfrom mlx_audio_lab.fixtures import build\n\n"
             f"model = mlx_audio_lab.load(build(\"{name}\"))"),
        md("## Listen"), md("## Look inside"),
        md("## Prove parity"),
        code(f"from mlx_audio_lab import parity\n\nprint(parity.run(\"{name}\").checks())"),
        md("## Cost"),
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python (mlx_audio_lab)",
                                                        "language": "python", "name": "mlx-audio-lab"}},
            "nbformat": 4, "nbformat_minor": 5}


class ScaffoldError(ValueError):
    """The port cannot be scaffolded (bad name, unknown family, existing folder, no registry)."""


def new_port(name: str, family: str, reference: str, root: Path) -> list[Path]:
    """Write models/<family>/<name>/, its test and notebook under `root` (a checkout), and register it."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ScaffoldError(f"port name {name!r}: use lower_snake_case letters, digits and _")
    if family not in FAMILIES:
        raise ScaffoldError(f"family {family!r}: choose one of {', '.join(FAMILIES)}")
    if not re.fullmatch(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*", reference):
        raise ScaffoldError(f"reference {reference!r}: give it as package.module.Class")
    root = Path(root)
    registry = root / "mlx_audio_lab" / "registry.py"
    text = registry.read_text() if registry.is_file() else ""
    if _MARK not in text:
        raise ScaffoldError(f"{registry}: not a mlx_audio_lab checkout (no registry with a _SPECS list)")
    if f'ModelSpec(\n        "{name}"' in text or f'ModelSpec("{name}"' in text:
        raise ScaffoldError(f"model type {name!r} is already registered")
    port = root / "mlx_audio_lab" / "models" / family / name
    if port.exists():
        raise ScaffoldError(f"{port} exists already")
    cls = "".join(p.capitalize() for p in name.split("_"))
    fill = {"name": name, "family": family, "cls": cls, "reference": reference, "title": cls}
    files = {
        port / "__init__.py": _INIT, port / "config.py": _CONFIG, port / "model.py": _MODEL,
        port / "convert.py": _CONVERT, port / "load.py": _LOAD, port / "reference.py": _REFERENCE,
        root / "tests" / "models" / family / f"test_{name}.py": _TEST,
    }
    written = []
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fill))
        written.append(path)
    family_init = port.parent / "__init__.py"
    if not family_init.exists():
        family_init.write_text(f'"""{family} ports."""\n')
        written.append(family_init)
    nb = root / "notebooks" / family / f"{name}.ipynb"
    nb.parent.mkdir(parents=True, exist_ok=True)
    nb.write_text(json.dumps(_notebook(name, family, cls, reference), indent=1) + "\n")
    spec = (f'    ModelSpec(\n        "{name}", "{family}", "mlx_audio_lab.models.{family}.{name}",\n'
            f'        "{reference}", "notebooks/{family}/{name}.ipynb",\n    ),')
    registry.write_text(text.replace(_MARK, "\n" + spec + _MARK, 1))
    return [*written, nb, registry]
