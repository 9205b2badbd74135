"""Silero VAD's bundled asset `silero-vad`: the real v6 weights shipped in the PyPI wheel `silero-vad`."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
from pathlib import Path

from ....fixtures.cache import cache_dir
from .convert import SAFETENSORS_16K, TORCHSCRIPT

_FILES = (SAFETENSORS_16K, TORCHSCRIPT)


def silero_vad() -> Path:
    """A folder with the wheel's `silero_vad.jit` (both branches; only its tensors are read), its
    `silero_vad_16k.safetensors` and a `config.json`; made in the cache on first use.

    Both branches load from the TorchScript file: in silero-vad 6.2.3 the safetensors file holds a different
    16 kHz checkpoint than the TorchScript model and every ONNX export (which agree with each other), and the
    TorchScript model is the reference. The safetensors weights load from a folder without `weights` set."""
    try:
        data = importlib.resources.files("silero_vad.data")
        from importlib.metadata import version

        ver = version("silero-vad")
    except ModuleNotFoundError as e:
        raise FileNotFoundError("bundled asset 'silero-vad' needs the PyPI package silero-vad "
                                "(pip install silero-vad)") from e
    folder = cache_dir("assets", f"silero-vad-{ver}")
    if not (folder / "config.json").is_file():
        for name in _FILES:
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            with importlib.resources.as_file(data.joinpath(name)) as src:
                shutil.copyfile(src, tmp)
            tmp.replace(folder / name)
        config = {"model_type": "silero_vad", "sample_rates": [16000, 8000], "source": f"silero-vad {ver} (PyPI)",
                  "weights": {"16000": TORCHSCRIPT, "8000": TORCHSCRIPT}}
        tmp = folder / f".config.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(config, indent=2))
        tmp.replace(folder / "config.json")
    return folder
