"""Named taps in MLX model code: `x = tap("encoder.layers.0", x)` records `x` while a capture is open.

This module imports nothing of the package (layers and models stand on it; parity stands above them).
Off (the normal case) a tap is one global lookup and returns its input untouched, so ports keep their taps
in the hot path. Taps are recorded as evaluated arrays, so a capture holds real numbers, not graphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import mlx.core as mx

_active: dict[str, mx.array] | None = None
_wanted: frozenset[str] | None = None


def tap(name: str, x: mx.array) -> mx.array:
    """Record `x` under `name` if a capture is open (the first call of a name wins); return `x`."""
    if _active is not None and (_wanted is None or name in _wanted) and name not in _active:
        _active[name] = x
    return x


def enabled() -> bool:
    """True inside `capture()` (models may skip extra work, such as attention weights, when off)."""
    return _active is not None


@contextmanager
def capture(names: Iterable[str] | None = None) -> Iterator[dict[str, mx.array]]:
    """Collect taps (all, or only `names`) into the yielded dict; arrays are evaluated on exit."""
    global _active, _wanted
    prev = (_active, _wanted)
    store: dict[str, mx.array] = {}
    _active, _wanted = store, (frozenset(names) if names is not None else None)
    try:
        yield store
    finally:
        _active, _wanted = prev
        mx.eval(list(store.values()))
