"""Weight normalization, w = g * v / ||v||: the gain of a direction, folding a pair into one weight, splitting a
weight back into a pair, and the same over a whole state dict.

Checkpoints spell a pair `X.weight_g` / `X.weight_v` (torch `weight_norm`) or `X.parametrizations.weight.original0`
/ `original1` (torch parametrizations); either folds to `X.weight`. The norm runs over every axis but one, the
kept axis: given, or read from the gain's shape (it has size 1 on every axis the norm runs over). Norms are summed
in float64 and the result cast back to the weight's dtype.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping

import numpy as np

LEGACY = (".weight_g", ".weight_v")
PARAMETRIZED = (".parametrizations.weight.original0", ".parametrizations.weight.original1")
SPELLINGS = (LEGACY, PARAMETRIZED)


def _norm(v: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """||v|| over `axes` (kept as size 1), in float64."""
    return np.sqrt(np.sum(v.astype(np.float64) ** 2, axis=axes, keepdims=True))


def _all_but(ndim: int, axis: int) -> tuple[int, ...]:
    if not -ndim <= axis < ndim:
        raise ValueError(f"weight-norm axis {axis} is out of range for a weight of {ndim} dimensions")
    return tuple(i for i in range(ndim) if i != axis % ndim)


def weight_norm_gain(v: np.ndarray, axis: int = 0) -> np.ndarray:
    """g = ||v|| over every axis but `axis` (size 1 there), in v's dtype."""
    return _norm(v, _all_but(v.ndim, axis)).astype(v.dtype)


def fold(g: np.ndarray, v: np.ndarray, axis: int | None = None) -> np.ndarray:
    """w = g * v / ||v||, the norm over every axis but `axis`; None: over the axes where g has size 1."""
    if g.ndim != v.ndim or any(a not in (1, b) for a, b in zip(g.shape, v.shape)):
        raise ValueError(f"gain of shape {g.shape} does not fit direction of shape {v.shape}")
    if axis is None:
        axes = tuple(i for i, n in enumerate(g.shape) if n == 1)
    else:
        axes = _all_but(v.ndim, axis)
        if any(g.shape[i] != 1 for i in axes):
            raise ValueError(f"gain of shape {g.shape} is not a norm kept along axis {axis} of {v.shape}")
    return (g * (v / _norm(v, axes))).astype(v.dtype)


def split(w: np.ndarray, axis: int = 0, exact: bool = False, rounds: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """w -> (g, v): g = ||w|| over every axis but `axis`, v = w (v = 1 on all-zero channels, where g = 0).

    exact: v is nudged by ulps until `fold(g, v, axis)` gives back w bit for bit (Kokoro's audio moves by ~1e-3
    for 1e-8 weight changes, so its export round trip must be exact). That works for weights that are a fold
    themselves (every model loaded from a weight-norm checkpoint); for others it may not exist, and a warning
    says how many channels stay off by an ulp.
    """
    norm = _norm(w, _all_but(w.ndim, axis))
    g = norm.astype(w.dtype)
    # C order from here on, as a loader reads v back: float sums depend on the memory layout.
    w = np.ascontiguousarray(w)
    v = np.where(norm == 0, 1.0, w).astype(w.dtype)  # all-zero channels (int8 exports): v finite, v / |v| too
    for _ in range(rounds if exact else 0):
        back = fold(g, v, axis)
        wrong = back != w
        if not wrong.any():
            return g, v
        v = np.where(wrong, v + (w - back), v)
    if exact and (off := fold(g, v, axis) != w).any():
        channels = int(np.count_nonzero(np.moveaxis(off, axis, 0).reshape(w.shape[axis], -1).any(axis=1)))
        warnings.warn(f"weight norm: {channels} of {w.shape[axis]} channels of a {w.shape} weight do not refold "
                      f"bit for bit after {rounds} rounds", RuntimeWarning, stacklevel=2)
    return g, v


def weight_norm_pairs(state: Mapping[str, np.ndarray]) -> list[tuple[str, str, str]]:
    """(folded key `X.weight`, gain key, direction key) for every complete pair, in the gains' key order."""
    pairs = []
    for key in state:
        for gain, direction in SPELLINGS:
            base = key[: -len(gain)]
            if key.endswith(gain) and base + direction in state:
                pairs.append((base + ".weight", key, base + direction))
    return pairs


def lone_halves(state: Mapping[str, np.ndarray]) -> list[str]:
    """Gain or direction keys whose other half is missing (`fold_state` leaves them for the key map to report)."""
    paired = {k for _, g, v in weight_norm_pairs(state) for k in (g, v)}
    return [k for k in state if k not in paired and k.endswith(tuple(s for pair in SPELLINGS for s in pair))]


def fold_state(state: Mapping[str, np.ndarray], axis: int | None = None) -> dict[str, np.ndarray]:
    """Replace every gain / direction pair (either spelling) by `X.weight`, appended in the gains' order; the
    norm keeps `axis`, or (None) the axes where the gain is not of size 1. Lone halves stay as they are."""
    out = dict(state)
    for key, gk, vk in weight_norm_pairs(state):
        g, v = out.pop(gk), out.pop(vk)
        try:
            out[key] = fold(g, v, axis)
        except ValueError as e:
            raise ValueError(f"weight norm of {key} ({gk}, {vk}): {e}") from None
    return out


def split_state(state: Mapping[str, np.ndarray], select: str | re.Pattern[str] | Callable[[str], bool],
                axis: int = 0, exact: bool = False, spelling: tuple[str, str] = LEGACY) -> dict[str, np.ndarray]:
    """Replace each selected `X.weight` (a regex fully matching the key, or a predicate) by its gain and direction,
    in place, named with `spelling`; see `split` for `axis` and `exact`."""
    chosen = select if callable(select) else re.compile(select).fullmatch
    out: dict[str, np.ndarray] = {}
    for key, w in state.items():
        if not chosen(key):
            out[key] = w
            continue
        if not key.endswith(".weight"):
            raise ValueError(f"weight norm: {key} was selected to split, but only `.weight` keys split")
        base = key[: -len(".weight")]
        out[base + spelling[0]], out[base + spelling[1]] = split(np.asarray(w), axis, exact)
    if len(out) == len(state):
        raise ValueError(f"weight norm: no key of the state was selected to split by {select!r}")
    return out
