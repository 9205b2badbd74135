"""Suggest a port's key-map table from a checkpoint and an MLX model, by names and shapes.

Each checkpoint key is placed on an MLX parameter: the same name first, then the most similar name whose layer
indices agree; the layout change (conv transposes, a plain transpose, a squeeze) is read from the two shapes.
Weight-norm pairs are recognised (fold them first: `keymap.fold_weight_norm`), fused q/k/v projections and tied
embeddings are named, and what cannot be placed is listed. Concrete pairs are generalised into regex rules over
layer indices and written as the same `KeyMap` table the ports use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from .keymap import TRANSFORMS, KeyMap, Rule

_NORM = re.compile(r"\.(?:weight_[gv]|parametrizations\.weight\.original[01])$")
_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)")


def _layout_for(src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[bool, str | None]:
    """(fits, transform) turning a checkpoint shape into the MLX shape; 1-D and equal shapes need none."""
    if src == dst:
        return True, None
    for name in ("conv1d", "conv_transpose1d", "conv2d", "transpose", "squeeze"):
        try:
            if tuple(TRANSFORMS[name](np.empty(src, np.float32)).shape) == dst:
                return True, name
        except (ValueError, IndexError):
            continue
    return False, None


def _indices(key: str) -> list[str]:
    return _INDEX.findall(key)


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a.split("."), b.split(".")).ratio()


@dataclass
class KeymapSuggestion:
    """The suggested table, the concrete pairs behind it, and what could not be placed (with why)."""

    keymap: KeyMap
    pairs: dict[str, tuple[str, str | None]]  # checkpoint key -> (MLX name, transform)
    unplaced: dict[str, str] = field(default_factory=dict)  # checkpoint key -> why
    unfilled: list[str] = field(default_factory=list)  # MLX parameters no checkpoint key reached
    notes: list[str] = field(default_factory=list)

    def to_python(self, name: str | None = None) -> str:
        """The table as Python source, in the house form (`KeyMap(name=..., rules=[Rule(...), ...])`)."""
        lines = ["KEYMAP = KeyMap(", f"    name={(name or self.keymap.name)!r},", "    rules=["]
        for r in self.keymap.rules:
            args = [_raw(r.pattern), "None" if r.target is None else _raw(r.target)]
            if r.transform:
                args.append(repr(r.transform))
            lines.append(f"        Rule({', '.join(args)}),")
        lines += ["    ],", ")"]
        for key, why in self.unplaced.items():
            lines.append(f"# not placed: {key}: {why}")
        return "\n".join(lines) + "\n"


def _raw(text: str) -> str:
    """A raw string literal for a regex (plain repr where a raw literal cannot hold it)."""
    return f'r"{text}"' if '"' not in text and not text.endswith("\\") else repr(text)


def suggest_keymap(state: Mapping[str, np.ndarray], mlx_model: nn.Module, name: str = "suggested"
                   ) -> KeymapSuggestion:
    """Propose the key map from `state` (name -> array, PyTorch layout) onto `mlx_model`'s parameters."""
    expected = {k: tuple(v.shape) for k, v in tree_flatten(mlx_model.parameters())}
    shapes = {k: tuple(np.shape(v)) for k, v in state.items()}
    pairs: dict[str, tuple[str, str | None]] = {}
    unplaced: dict[str, str] = {}
    notes: list[str] = []
    taken: set[str] = set()
    norm_pairs = sorted({_NORM.sub("", k) for k in state if _NORM.search(k)})
    if norm_pairs:
        notes.append(f"{len(norm_pairs)} weight-norm pairs (weight_g/weight_v): fold them first with "
                     f"fold_weight_norm; e.g. {norm_pairs[0]}")
    # 1. the same name
    for key, shp in shapes.items():
        if key in expected:
            fits, transform = _layout_for(shp, expected[key])
            if fits:
                pairs[key] = (key, transform)
                taken.add(key)
    # 2. the most similar free name with the same layer indices and a fitting shape
    for key, shp in shapes.items():
        if key in pairs:
            continue
        best, best_score = None, 0.0
        for target, want in expected.items():
            if target in taken or _indices(target) != _indices(key) or not _layout_for(shp, want)[0]:
                continue
            score = _similarity(key, target)
            if score > best_score:
                best, best_score = target, score
        if best is not None and best_score >= 0.5:
            pairs[key] = (best, _layout_for(shp, expected[best])[1])
            taken.add(best)
    # 3. explain what is left
    for key, shp in shapes.items():
        if key in pairs:
            continue
        parent = key.rsplit(".", 2)[0]
        qkv = [t for t in expected if t not in taken and t.startswith(parent) and re.search(r"\b[qkv]_?proj", t)]
        if len(shp) >= 1 and qkv and shp[0] % 3 == 0:
            unplaced[key] = f"fused q/k/v ({shp}): split into {len(qkv)} projections with a transform"
        elif "lm_head" in key or "proj_out" in key:
            tied = [k for k, s in shapes.items() if "embed" in k and s == shp]
            if tied and np.array_equal(np.asarray(state[key]), np.asarray(state[tied[0]])):
                unplaced[key] = f"tied to {tied[0]}: drop it (Rule(pattern, None))"
            else:
                unplaced[key] = "no MLX parameter of this shape and name"
        elif _NORM.search(key):
            unplaced[key] = "weight-norm half: fold the pair into .weight before mapping"
        else:
            unplaced[key] = "no MLX parameter with these layer indices and a fitting shape"
    unfilled = sorted(set(expected) - taken)
    return KeymapSuggestion(KeyMap(generalize(pairs), name=name), pairs, unplaced, unfilled, notes)


def _rename(key: str, target: str) -> tuple[str, str, int]:
    """(source prefix, target prefix, length of the shared dotted suffix) of a key and its MLX name."""
    a, b = key.split("."), target.split(".")
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return ".".join(a[: len(a) - n]), ".".join(b[: len(b) - n]), n


def _index_rule(key: str, target: str, transform: str | None) -> Rule:
    """One key's rule, its layer indices turned into groups when the MLX name keeps them."""
    if not _indices(key) or _indices(key) != _indices(target):
        return Rule(re.escape(key), target, transform)
    pattern = re.escape(_INDEX.sub("<I>", key)).replace("<I>", r"(\d+)")
    count = iter(range(1, 100))
    return Rule(pattern, _INDEX.sub(lambda _m: f"\\{next(count)}", target), transform)


def generalize(pairs: Mapping[str, tuple[str, str | None]]) -> list[Rule]:
    """Concrete (key -> name, transform) pairs as a short table: renamed prefixes become one catch-all rule
    each (longest prefix first); keys with a layout change get their own rule over layer indices, first."""
    specific: dict[Rule, None] = {}
    prefixes: dict[tuple[str, str], None] = {}
    for key, (target, transform) in sorted(pairs.items()):
        src, dst, shared = _rename(key, target)
        if transform is None and shared:
            prefixes[(src, dst)] = None
        else:
            specific[_index_rule(key, target, transform)] = None
    rules = list(specific)
    for src, dst in sorted(prefixes, key=lambda p: -len(p[0])):
        rules.append(Rule(re.escape(src + ".") + "(.+)" if src else "(.+)", f"{dst}.\\1" if dst else "\\1"))
    table = KeyMap(rules)
    wrong = [k for k, want in pairs.items() if table.map_key(k) != want]
    return [Rule(re.escape(k), *pairs[k]) for k in sorted(wrong)] + rules  # exceptions first: exact names
