"""Which options a port's `transcribe` / `generate` takes (shared by the CLI and the server)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any


def accepted_options(model: Any, method: str = "transcribe") -> set[str]:
    """Keyword names of the model's `method`, looking through a `**kwargs` wrapper to the function of that
    name in the port's module of that name (`transcribe.transcribe`, `generate.generate`)."""
    params = inspect.signature(getattr(model, method)).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return set(params)
    package = type(model).__module__.rsplit(".", 1)[0]
    try:
        return set(inspect.signature(getattr(importlib.import_module(f"{package}.{method}"), method)).parameters)
    except (ImportError, AttributeError):
        return set()


def refused_options(model: Any, options: dict[str, Any]) -> list[str]:
    """The names in `options` that the model's `transcribe` does not take."""
    accepted = accepted_options(model)
    return [name for name in options if name not in accepted]
