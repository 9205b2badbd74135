"""The server's request path, read from a live app: HTTP route -> model family in the registry -> the function
on the compute thread and the model method it calls -> the function that writes the response.

Each model route declares its path beside it (`x-request-path` in its OpenAPI operation); `request_paths` reads
them from the app's `/openapi.json` and the model list from `/v1/models`, and resolves every named function, so a
stale declaration fails here (and in the tests) instead of being drawn.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._view import new_figure


@dataclass(frozen=True)
class RequestPath:
    """One model route: method and path, the family and model ids it serves, what runs, what it calls, the writer."""

    method: str
    route: str
    family: str
    models: tuple[str, ...]
    runs: str
    calls: str
    writes: str
    formats: tuple[str, ...]


def resolve(target: str) -> Any:
    """`package.module:name` -> the object (raises if the module or name is gone)."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _short(target: str) -> str:
    module, _, name = target.partition(":")
    return f"{module.rsplit('.', 1)[-1]}.{name}"


def request_paths(openapi: Mapping[str, Any], models: Sequence[Mapping[str, Any]]) -> list[RequestPath]:
    """Every operation of the OpenAPI schema that declares `x-request-path`, with the models of its family."""
    out = []
    for route, ops in openapi.get("paths", {}).items():
        for method, op in ops.items():
            path = op.get("x-request-path")
            if not path:
                continue
            run, write = resolve(path["runs"]), resolve(path["writes"])  # both must exist
            if not callable(run) or not callable(write):
                raise TypeError(f"{route}: {path['runs']} / {path['writes']} must be functions")
            ids = tuple(m["id"] for m in models if m.get("family") == path["family"])
            out.append(RequestPath(method.upper(), route, path["family"], ids, _short(path["runs"]),
                                   f"model.{path['calls']}()", _short(path["writes"]), tuple(path["formats"])))
    return out


def other_routes(openapi: Mapping[str, Any]) -> list[str]:
    """`METHOD /path` of the operations that declare no request path (model management, voices, parity, health,
    metrics, the page): listed under the figure, not drawn."""
    return [f"{m.upper()} {r}" for r, ops in openapi.get("paths", {}).items() for m, op in ops.items()
            if "x-request-path" not in op]


def request_path_figure(paths: Sequence[RequestPath], others: Sequence[str] = (), title: str = "request path"):
    """One row per model route, four boxes joined by arrows: route -> registry -> model -> writer."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    heads = ["HTTP route", "registry: models of the family", "compute thread -> model", "writer -> response"]
    colours = ["#dbe9f6", "#e5f2dc", "#fbe5cc", "#eadcf2"]
    fig, ax = new_figure((12, 1.0 + 1.4 * len(paths) + (0.5 if others else 0)))
    ax.set_xlim(0, 4)
    ax.set_ylim(len(paths) + (0.45 if others else 0), -0.7)
    ax.axis("off")
    for c, h in enumerate(heads):
        ax.text(c + 0.45, -0.45, h, ha="center", va="center", fontsize=10, fontweight="bold")
    for r, p in enumerate(paths):
        shown = ",\n".join(p.models[:2]) + (f",\n+{len(p.models) - 2} more" if len(p.models) > 2 else "")
        cells = [f"{p.method} {p.route}", f"family {p.family!r}: {len(p.models)} model ids\n{shown}",
                 f"{p.runs}\n-> {p.calls}", f"{p.writes}\n{', '.join(p.formats)}"]
        for c, text in enumerate(cells):
            ax.add_patch(FancyBboxPatch((c + 0.05, r - 0.38), 0.8, 0.76, boxstyle="round,pad=0.02",
                                        fc=colours[c], ec="0.4"))
            ax.text(c + 0.45, r, text, ha="center", va="center", fontsize=8, wrap=True)
            if c < 3:
                ax.add_patch(FancyArrowPatch((c + 0.87, r), (c + 1.03, r), arrowstyle="-|>", mutation_scale=12))
    if others:
        ax.text(0.05, len(paths) + 0.1, f"other routes of the app, not drawn ({len(others)}): " + ", ".join(others),
                ha="left", va="center", fontsize=7, wrap=True, color="0.3")
    ax.set_title(title)
    return fig
