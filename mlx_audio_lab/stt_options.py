"""Which options a speech-recognition port's `transcribe` takes (shared by the CLI and the server)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any


def accepted_options(model: Any) -> set[str]:
    """Keyword names of the model's `transcribe`, looking through a `**kwargs` wrapper to the port's
    `transcribe` module, where each STT port keeps the real signature."""
    params = inspect.signature(model.transcribe).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return set(params)
    package = type(model).__module__.rsplit(".", 1)[0]
    try:
        return set(inspect.signature(importlib.import_module(package + ".transcribe").transcribe).parameters)
    except (ImportError, AttributeError):
        return set()


def refused_options(model: Any, options: dict[str, Any]) -> list[str]:
    """The names in `options` that the model's `transcribe` does not take."""
    accepted = accepted_options(model)
    return [name for name in options if name not in accepted]
