"""How a key-map table covers a checkpoint: which rule placed each tensor (renamed, re-laid-out, or dropped),
which tensors no rule matches, and on the MLX side which parameters were filled with the shape they expect.

The same engine as loading (`KeyMap.map_key` and `convert.keymap.TRANSFORMS`), run on shapes only, so a table that
would fail `apply_keymap` shows here where and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..convert.keymap import TRANSFORMS, KeyMap
from ._view import new_figure


@dataclass
class RuleUse:
    """One rule of the table and the checkpoint keys it took (the first matching rule wins)."""

    pattern: str
    target: str | None
    transform: str | None
    keys: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "dropped" if self.target is None else "re-laid-out" if self.transform else "renamed"


@dataclass
class Coverage:
    """A table applied to a checkpoint's shapes, checked against the model's parameter shapes."""

    name: str
    rules: list[RuleUse]
    unplaced: list[str]  # checkpoint keys no rule matches
    filled: list[str]  # MLX parameters filled with the expected shape
    misshaped: list[tuple[str, tuple, tuple]]  # (parameter, shape given, shape expected)
    missing: list[str]  # MLX parameters no checkpoint key reaches
    extra: list[str]  # mapped names the model does not have

    @property
    def n_keys(self) -> int:
        return sum(len(r.keys) for r in self.rules) + len(self.unplaced)

    @property
    def ok(self) -> bool:
        return not (self.unplaced or self.misshaped or self.missing or self.extra)


def _shape_after(shape: tuple[int, ...], transform: str | None) -> tuple[int, ...]:
    """The shape a transform gives, computed on a zero-stride stand-in (no data is read or copied)."""
    if not transform:
        return tuple(shape)
    return tuple(TRANSFORMS[transform](np.broadcast_to(np.zeros((), np.float32), shape)).shape)


def keymap_coverage(shapes: Mapping[str, tuple[int, ...]], keymap: KeyMap,
                    expected: Mapping[str, tuple[int, ...]]) -> Coverage:
    """Checkpoint key -> shape, the table, and the model's parameter -> shape: who placed what, and what fits."""
    uses = [RuleUse(r.pattern, r.target, r.transform) for r in keymap.rules]
    out: dict[str, tuple[int, ...]] = {}
    unplaced = []
    for key, shape in shapes.items():
        for (rx, _rule), use in zip(keymap._compiled, uses):
            m = rx.fullmatch(key)
            if m:
                use.keys.append(key)
                if use.target is not None:
                    out[m.expand(use.target)] = _shape_after(tuple(shape), use.transform)
                break
        else:
            unplaced.append(key)
    filled = sorted(k for k, s in out.items() if k in expected and tuple(expected[k]) == s)
    misshaped = [(k, s, tuple(expected[k])) for k, s in out.items() if k in expected and tuple(expected[k]) != s]
    return Coverage(keymap.name, uses, unplaced, filled, misshaped, sorted(set(expected) - set(out)),
                    sorted(set(out) - set(expected)))


def coverage_figure(c: Coverage, title: str | None = None):
    """Left: checkpoint tensors per rule (colour: renamed / re-laid-out / dropped / no rule). Right: the model's
    parameters: filled with the expected shape, mis-shaped, missing, and mapped names the model lacks."""
    from matplotlib.patches import Patch

    colours = {"renamed": "tab:blue", "re-laid-out": "tab:orange", "dropped": "0.6", "no rule": "tab:red"}
    rows = [(f"{r.pattern}  ->  {r.target if r.target is not None else '(dropped)'}"
             + (f"  [{r.transform}]" if r.transform else ""), len(r.keys), r.kind) for r in c.rules]
    rows.append(("no rule matches", len(c.unplaced), "no rule"))
    fig, (ax_l, ax_r) = new_figure((12, 1.6 + 0.42 * max(len(rows), 4)), 1, 2, width_ratios=[2.2, 1.1])
    y = np.arange(len(rows))
    bars = ax_l.barh(y, [n for _, n, _ in rows], color=[colours[k] for *_, k in rows])
    ax_l.bar_label(bars, fontsize=8, padding=2)
    ax_l.set_yticks(y, [label for label, *_ in rows], fontsize=7, family="monospace")
    ax_l.invert_yaxis()
    ax_l.set(xlabel="checkpoint tensors (count)", title=f"{c.n_keys} checkpoint tensors, placed by the "
             f"{len(c.rules)} rules of {c.name!r}\n(each tensor by the first rule whose pattern matches its name)")
    ax_l.legend(handles=[Patch(color=v, label=k) for k, v in colours.items()], fontsize=7, ncol=4,
                loc="upper center", bbox_to_anchor=(0.5, -0.22))  # under the axis, off the bars
    side = [("filled, shape checked", len(c.filled), "tab:green"), ("mis-shaped", len(c.misshaped), "tab:red"),
            ("missing (no key)", len(c.missing), "tab:red"), ("not in the model", len(c.extra), "tab:red")]
    yr = np.arange(len(side))
    bars = ax_r.barh(yr, [n for _, n, _ in side], color=[col for *_, col in side])
    ax_r.bar_label(bars, fontsize=8, padding=2)
    ax_r.set_yticks(yr, [s for s, *_ in side], fontsize=8)
    ax_r.invert_yaxis()
    total = len(c.filled) + len(c.misshaped) + len(c.missing)
    ax_r.set(xlabel="MLX parameters (count)", title=f"{total} MLX parameters:\n"
             f"{'all fit (name and shape)' if c.ok else 'the checkpoint does NOT fit'}")
    for ax in (ax_l, ax_r):
        ax.set_xlim(0, max([n for _, n, _ in rows] + [n for _, n, _ in side] + [1]) * 1.15)
    if title:
        fig.suptitle(title)
    return fig
