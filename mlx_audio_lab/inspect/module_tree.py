"""Architecture stages read from a parity report of `compare_modules` (every submodule both trees share, in the
order their outputs completed): for a port that has no taps yet, the module tree the comparison paired, with the
shapes it recorded. Repeated layer blocks (`layers.0.*`, `layers.1.*`, same names and shapes) fold into one."""

from __future__ import annotations

from collections.abc import Sequence

from .architecture import _INDEX, Stage, _folded_name, _pattern

Row = tuple[str, tuple[int, ...]]


def depth(name: str) -> int:
    """Named parts of a module path, layer indices not counted: `layers.0.mlp.fc1` -> 3."""
    return sum(not part.isdigit() for part in name.split("."))


def _block_key(name: str) -> str | None:
    """The indexed block a module belongs to (`layers.0.mlp.fc1` -> `layers.0`); None outside any block."""
    m = _INDEX.search(name)
    return name[: m.end()] if m else None


def fold_blocks(rows: Sequence[Row]) -> list[Stage]:
    """(name, shape) rows -> stages; consecutive indexed blocks with the same module names and shapes fold into
    one run of stages, each counted (`layers.0-3.mlp  x4`)."""
    blocks: list[tuple[str | None, list[Row]]] = []
    for name, shape in rows:
        key = _block_key(name)
        if key is not None and blocks and blocks[-1][0] == key:
            blocks[-1][1].append((name, shape))
        else:
            blocks.append((key, [(name, shape)]))

    def signature(block: tuple[str | None, list[Row]]) -> tuple:
        return tuple((_pattern(n), s) for n, s in block[1])

    out: list[Stage] = []
    run: list[tuple[str | None, list[Row]]] = []

    def flush() -> None:
        for j, (name, shape) in enumerate(run[0][1] if run else []):
            taps = tuple(b[1][j][0] for b in run)
            out.append(Stage(_folded_name(taps) if len(taps) > 1 else name, shape, len(taps), taps))

    for block in blocks:
        if run and block[0] is not None and run[-1][0] is not None and signature(block) == signature(run[-1]):
            run.append(block)
        else:
            flush()
            run = [block]
    flush()
    return out


def report_stages(report, max_depth: int | None = None) -> list[Stage]:
    """A `compare_modules` report's rows as architecture stages, modules deeper than `max_depth` left out."""
    rows = [(r.name, tuple(int(d) for d in r.shape)) for r in report.layers
            if max_depth is None or depth(r.name) <= max_depth]
    return fold_blocks(rows)
