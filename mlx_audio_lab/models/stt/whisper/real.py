"""Real Whisper tiny.en weights (the bundled CTranslate2 copy) as a Hugging Face folder, written once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ....fixtures.cache import cache_dir

NAME = "whisper-tiny.en"
FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json")


def real_hf_folder(name: str = NAME) -> Path:
    """Folder (in the cache) that transformers' `from_pretrained` and `load_model` both read; built on first use."""
    target = cache_dir("real") / f"{name}-hf"
    if all((target / f).is_file() for f in FILES):
        return target
    from ....hub import resolve
    from .ct2 import write_hf_folder

    tmp = cache_dir("real", f".{name}-hf.{os.getpid()}.tmp")  # write then rename: safe with parallel workers
    write_hf_folder(resolve(name), tmp)
    if target.exists() and not all((target / f).is_file() for f in FILES):
        shutil.rmtree(target, ignore_errors=True)  # a partial folder from an interrupted older layout
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
