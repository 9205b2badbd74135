"""What the codec ports' references share: loading a transformers model quietly and tapping it (the parity
side, like each port's `reference.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...parity import TapPoint


def from_pretrained_quietly(cls: Any, folder: str | Path, **kwargs: Any) -> Any:
    """`cls.from_pretrained(folder, dtype="float32", **kwargs)` in eval mode, without transformers' "Loading
    weights" progress bar (it would land in notebook outputs); the bar's setting is restored after."""
    from transformers.utils import logging

    bar = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        return cls.from_pretrained(folder, dtype="float32", **kwargs).eval()
    finally:
        if bar:
            logging.enable_progress_bar()


def capture_reference(model: Any, points: Iterable[TapPoint], run: Callable[[], Any]) -> tuple[dict, Any]:
    """`capture_torch` on the tap points' modules that the reference has (the rest are recorded by hand)."""
    from ...parity.torch_hooks import capture_torch

    modules = dict(model.named_modules())
    return capture_torch(model, [p.ref for p in points if p.ref in modules], run)
