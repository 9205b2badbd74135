"""The key-map engine: a table of regex rules turns upstream names into MLX parameter names.

A model's `convert.py` holds its table as data. `apply_keymap` checks the result against the MLX model's
parameters and raises one error listing every unmapped, missing and mis-shaped key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import WeightsError
from .weight_norm import fold_state

Transform = Callable[[np.ndarray], np.ndarray]

# Layout changes between PyTorch (channels-first) and MLX (channels-last), by name so tables stay data.
TRANSFORMS: dict[str, Transform] = {
    "conv1d": lambda w: w.transpose(0, 2, 1),  # (out, in, k) -> (out, k, in)
    "conv2d": lambda w: w.transpose(0, 2, 3, 1),  # (out, in, kh, kw) -> (out, kh, kw, in)
    "conv_transpose1d": lambda w: w.transpose(1, 2, 0),  # (in, out, k) -> (out, k, in)
    "transpose": lambda w: w.T,
    "squeeze": lambda w: np.squeeze(w),
}


class CheckpointError(WeightsError):
    """A checkpoint does not fit the model: lists missing, unexpected and mis-shaped keys."""

    def __init__(self, source: str, missing: list[str], unexpected: list[str],
                 misshaped: list[tuple[str, tuple, tuple]]):
        self.missing, self.unexpected, self.misshaped = missing, unexpected, misshaped
        lines = [f"checkpoint {source} does not fit the model:"]
        if missing:
            more = " ..." if len(missing) > 20 else ""
            lines.append(f"  missing ({len(missing)}): " + ", ".join(missing[:20]) + more)
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): " + ", ".join(unexpected[:20])
                         + (" ..." if len(unexpected) > 20 else ""))
        for name, got, want in misshaped[:20]:
            lines.append(f"  mis-shaped: {name} has shape {got}, the model expects {want}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Rule:
    """Source keys fully matching `pattern` become `target` (regex groups allowed); target None drops the key."""

    pattern: str
    target: str | None
    transform: str | None = None


@dataclass
class KeyMap:
    """An ordered table of rules; the first rule that matches a key wins."""

    rules: list[Rule]
    name: str = ""
    _compiled: list[tuple[re.Pattern[str], Rule]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._compiled = [(re.compile(r.pattern), r) for r in self.rules]
        bad = [r.transform for r in self.rules if r.transform and r.transform not in TRANSFORMS]
        if bad:
            raise ValueError(f"key map {self.name}: unknown transforms {bad}; known: {sorted(TRANSFORMS)}")

    def map_key(self, key: str) -> tuple[str | None, str | None] | None:
        """(target, transform) for a source key; None when no rule matches."""
        for rx, rule in self._compiled:
            m = rx.fullmatch(key)
            if m:
                return (m.expand(rule.target) if rule.target is not None else None), rule.transform
        return None


def apply_keymap(
    state: Mapping[str, np.ndarray],
    keymap: KeyMap,
    expected: Mapping[str, tuple[int, ...]] | None = None,
    source: str = "checkpoint",
    optional: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """Rename and re-lay-out `state` with `keymap`; check it against `expected` shapes (name -> shape)."""
    out: dict[str, np.ndarray] = {}
    unexpected: list[str] = []
    for key, value in state.items():
        hit = keymap.map_key(key)
        if hit is None:
            unexpected.append(key)
            continue
        target, transform = hit
        if target is None:
            continue
        out[target] = TRANSFORMS[transform](value) if transform else value
    missing: list[str] = []
    misshaped: list[tuple[str, tuple, tuple]] = []
    if expected is not None:
        opt = set(optional)
        missing = sorted(k for k in expected if k not in out and k not in opt)
        unexpected += sorted(f"{k} (mapped)" for k in out if k not in expected)
        misshaped = [(k, tuple(v.shape), tuple(expected[k])) for k, v in out.items()
                     if k in expected and tuple(v.shape) != tuple(expected[k])]
    if missing or unexpected or misshaped:
        raise CheckpointError(source, missing, sorted(unexpected), misshaped)
    return out


def fold_weight_norm(state: Mapping[str, np.ndarray], dim: int = 0) -> dict[str, np.ndarray]:
    """Replace every `X.weight_g` / `X.weight_v` pair (or parametrizations.weight.original0/1) by `X.weight`,
    the norm keeping axis `dim` of the torch layout (see `weight_norm.fold_state`)."""
    return fold_state(state, axis=dim)
