"""Capture named module outputs of a PyTorch model with forward hooks (the reference side of parity)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np


def _first_tensor(out: Any):
    if isinstance(out, (tuple, list)):
        return _first_tensor(out[0])
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    return out


def capture_torch(model: Any, paths: Iterable[str], run: Callable[[], Any]) -> tuple[dict[str, np.ndarray], Any]:
    """Run `run()` with hooks on the modules at `paths`; returns ({path: output}, run's result).

    The first call of each module is kept (a decoder stepping token by token records its first step).
    """
    import torch

    modules = dict(model.named_modules())
    missing = [p for p in paths if p not in modules]
    if missing:
        raise KeyError(f"reference has no modules {missing}; e.g. {list(modules)[:8]}")
    store: dict[str, np.ndarray] = {}
    handles = []
    for p in paths:
        def hook(_m, _inp, out, p=p):
            if p not in store:
                store[p] = _first_tensor(out).detach().float().cpu().numpy().copy()  # the module may reuse it in place
        handles.append(modules[p].register_forward_hook(hook))
    try:
        with torch.no_grad():
            result = run()
    finally:
        for h in handles:
            h.remove()
    return store, result
