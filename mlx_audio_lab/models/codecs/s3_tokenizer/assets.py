"""Bundled assets of the S3 tokenizer: `s3-tokenizer`, the real weights once `s3tokenizer` has downloaded them, and
(re-exported from `clips`) the two real speech clips its wheel ships."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ....fixtures.cache import cache_dir
from .clips import CLIPS, speech_clip, speech_clips

__all__ = ["CLIPS", "ONNX", "s3tokenizer_cache", "speech_clip", "speech_clips", "speech_tokenizer_v2"]

ONNX = "speech_tokenizer_v2_25hz.onnx"


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
