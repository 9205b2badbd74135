"""Architecture figure: a port's stages as boxes, each with the tensor shape its tap recorded in one forward pass.

The stages are not drawn by hand: `trace_stages` opens a tap capture around any forward call and reads the names and
shapes back in forward order; `model_stages` does it on the port's parity inputs (the model built from its config).
Repeated layers (`encoder.layers.0` .. `encoder.layers.3`, same shape) fold into one box marked `x4`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._view import new_figure

_INDEX = re.compile(r"\.(\d+)(?=\.|$)")


@dataclass(frozen=True)
class Stage:
    """One box: a tap name (or a folded run of repeated layers), its shape, and how many taps it stands for."""

    name: str
    shape: tuple[int, ...]
    count: int = 1
    taps: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """The top-level part of the model (`encoder`, `decoder`, ...) the stage belongs to."""
        return self.name.split(".", 1)[0]

    @property
    def shape_text(self) -> str:
        return " x ".join(str(d) for d in self.shape) or "scalar"


def _pattern(name: str) -> str:
    return _INDEX.sub(".#", name)


def _indices(name: str) -> list[int]:
    return [int(i) for i in _INDEX.findall(name)]


def stages_from_shapes(shapes: Mapping[str, tuple[int, ...]], fold: bool = True) -> list[Stage]:
    """Stages from tap name -> shape in forward order; consecutive taps differing only in a layer index and of the
    same shape fold into one stage (`encoder.layers.0-3`, count 4)."""
    out: list[Stage] = []
    for name, shape in shapes.items():
        shape = tuple(int(d) for d in shape)
        prev = out[-1] if out else None
        if (fold and prev is not None and _pattern(prev.taps[-1]) == _pattern(name) and prev.shape == shape
                and _pattern(name) != name):
            taps = (*prev.taps, name)
            out[-1] = Stage(_folded_name(taps), shape, len(taps), taps)
        else:
            out.append(Stage(name, shape, 1, (name,)))
    return out


def _folded_name(taps: tuple[str, ...]) -> str:
    """`encoder.layers.0` .. `encoder.layers.3` -> `encoder.layers.0-3` (the index that varies, as a range)."""
    first, last = _indices(taps[0]), _indices(taps[-1])
    k = next((i for i, (a, b) in enumerate(zip(first, last)) if a != b), len(first) - 1)
    spans = iter(range(len(first)))

    def sub(m: re.Match) -> str:
        i = next(spans)
        return f".{first[i]}-{last[i]}" if i == k else m.group(0)

    return _INDEX.sub(sub, taps[0])


def trace_stages(forward: Callable[..., Any], *args: Any, fold: bool = True, **kwargs: Any) -> list[Stage]:
    """Run `forward(*args, **kwargs)` with every tap recorded; the stages in the order the taps fired."""
    from ..taps import capture

    with capture() as acts:
        forward(*args, **kwargs)
    return stages_from_shapes({k: tuple(v.shape) for k, v in acts.items()}, fold)


def model_stages(model_type: str, weights: str | Path = "fixture", fold: bool = True) -> list[Stage]:
    """The stages of a port, traced on its parity inputs (`reference.parity_inputs`, `run_mlx`; no PyTorch run)."""
    from ..fixtures import build, quiet_reference
    from ..hub import resolve
    from ..registry import spec_for

    quiet_reference()  # some ports' MLX runs build reference-side helpers (tokenizers, draws): no progress bars
    spec = spec_for(model_type)
    ref = importlib.import_module(spec.module + ".reference")
    folder = build(spec.model_type) if str(weights) == "fixture" else resolve(weights)
    acts, _ = ref.run_mlx(folder, ref.parity_inputs(folder))
    return stages_from_shapes({k: tuple(np.shape(v)) for k, v in acts.items()}, fold)


_CHAR_IN = 0.075  # width of one 8 pt monospace character, inches (with a margin)


def _label(s: Stage) -> str:
    return s.name + (f"  x{s.count}" if s.count > 1 else "")


def box_width(stages: list[Stage]) -> float:
    """Box width (inches) that holds the longest label and shape side by side with a gap; at least 3.6."""
    chars = max(len(_label(s)) + len(s.shape_text) for s in stages) + 3
    return max(3.6, chars * _CHAR_IN + 0.16)


MAX_WIDTH_IN = 12.5  # what a notebook shows at its natural size (~900 px at 72 dpi): wider figures get shrunk
ROWS = 14  # boxes per column
_PITCH, _BAND_GAP = 0.55, 0.5  # inches between box centres in a column; between two bands of columns


def layout(n: int, box_w: float, columns: int | None = None) -> tuple[int, int, int]:
    """(bands, columns per band, rows per column) for `n` boxes `box_w` inches wide: columns of up to 14 boxes side
    by side while they fit MAX_WIDTH_IN, further columns in bands below (a long model wraps down, not across)."""
    fit = max(1, int((MAX_WIDTH_IN - 0.6) // (box_w + 0.6)))
    columns = columns or max(1, -(-n // ROWS))
    per_band = min(columns, fit)
    bands = -(-columns // per_band)
    return bands, per_band, -(-n // (bands * per_band))


def box_position(i: int, rows: int, per_band: int, step: float) -> tuple[float, float]:
    """(x, y) of box `i`'s left-centre, inches: down a column, then the next column, then the next band."""
    band, k = divmod(i, rows * per_band)
    col, row = divmod(k, rows)
    return col * step, -(band * (rows * _PITCH + _BAND_GAP) + row * _PITCH)


def architecture_figure(stages: list[Stage], title: str, subtitle: str = "", columns: int | None = None):
    """Boxes top to bottom in forward order (one colour per top-level part), each labelled with its tap name,
    the tensor shape there and the repeat count; arrows show the flow. Long models wrap into columns, and into
    bands of columns below one another where more columns would not fit a notebook's width."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    n = len(stages)
    if n == 0:
        raise ValueError("no stages: the forward pass fired no taps")
    w, h = box_width(stages), 0.38
    step = w + 0.6  # column pitch
    bands, per_band, rows = layout(n, w, columns)
    width = step * per_band + 0.6
    height = bands * rows * _PITCH + (bands - 1) * _BAND_GAP
    heading = _wrap(title, width) + (f"\n{_wrap(subtitle, width)}" if subtitle else "")
    fig, ax = new_figure((width, height + 0.8 + 0.18 * (heading.count("\n") + 1)))
    groups = list(dict.fromkeys(s.group for s in stages))
    colours = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    centres = []
    for i, s in enumerate(stages):
        x, y = box_position(i, rows, per_band, step)
        centres.append((x + w / 2, y))
        ax.add_patch(FancyBboxPatch((x, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=colours[s.group],
                                    alpha=0.25, ec=colours[s.group]))
        ax.text(x + 0.08, y, _label(s), va="center", ha="left", fontsize=8, family="monospace")
        ax.text(x + w - 0.08, y, s.shape_text, va="center", ha="right", fontsize=8, family="monospace",
                color="0.25")
    for (x0, y0), (x1, y1) in zip(centres, centres[1:]):
        if x0 == x1 or y1 < y0 - _PITCH * 1.5:  # down the column, or on to the next band: bottom to top edge
            start, end = (x0, y0 - h / 2), (x1, y1 + h / 2)
        else:  # to the top of the next column: side to side
            start, end = (x0 + w / 2, y0), (x1 - w / 2, y1)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8, color="0.4", lw=0.8))
    ax.set_xlim(-0.2, per_band * step)
    ax.set_ylim(-height + _PITCH - 0.4, 0.4)
    ax.axis("off")
    ax.set_title(heading, fontsize=10)
    return fig


def _wrap(text: str, width_in: float) -> str:
    """`text` broken into lines that fit `width_in` inches at 10 pt (a title never runs off a narrow figure)."""
    import textwrap

    return textwrap.fill(text, max(20, int(width_in / 0.085)), break_long_words=False)


def config_line(config: Any, keys: tuple[str, ...]) -> str:
    """`key value, ...` for the config fields that exist (the subtitle of an architecture figure)."""
    parts = [f"{k} {getattr(config, k)}" for k in keys if getattr(config, k, None) is not None]
    return ", ".join(parts)


class ArchitectureView:
    """Displays as the figure (PNG) and, for nbval, one deterministic line per stage (name, count, shape)."""

    def __init__(self, stages: list[Stage], title: str, subtitle: str = ""):
        self.stages, self.title, self.subtitle = stages, title, subtitle

    @classmethod
    def for_model(cls, model_type: str, weights: str | Path = "fixture", subtitle: str = "") -> ArchitectureView:
        """Trace `model_type` on its parity inputs and view it."""
        label = "seeded random fixture" if str(weights) == "fixture" else str(weights)
        return cls(model_stages(model_type, weights), f"{model_type} ({label}): stages and tensor shapes",
                   subtitle)

    def figure(self):
        return architecture_figure(self.stages, self.title, self.subtitle)

    def summary(self) -> str:
        width = max(len(s.name) for s in self.stages) + 5
        lines = [f"{self.title}: {len(self.stages)} stages"]
        lines += [f"  {(s.name + (f' x{s.count}' if s.count > 1 else '')):<{width}} {s.shape_text}"
                  for s in self.stages]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        import base64

        from ._view import png_bytes

        return {"text/plain": self.summary(),
                "image/png": base64.b64encode(png_bytes(self.figure(), 72)).decode("ascii")}

    def __repr__(self) -> str:
        return self.summary()
