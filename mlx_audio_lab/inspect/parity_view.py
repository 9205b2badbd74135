"""One parity view per model (the checks table + error per layer vs tolerance), and a port broken on purpose.

`break_port` runs parity with one MLX parameter perturbed after loading (the reference keeps the true weights),
so the report's first diverging layer is the one holding that parameter: the workbench's core skill, seen working.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..parity.report import ParityReport
from .parity import ParityRun


def perturb_parameter(model: Any, name: str, delta: float) -> Any:
    """Add `delta` to every element of the MLX parameter `name` (e.g. a LayerNorm weight) in place."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    params = dict(tree_flatten(model.parameters()))
    if name not in params:
        near = [k for k in params if k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]][:5]
        raise KeyError(f"no parameter {name!r}; e.g. {near}")
    model.update(tree_unflatten([(name, params[name] + mx.array(delta, params[name].dtype))]))
    return model


@contextmanager
def perturbed(model_type: str, name: str, delta: float) -> Iterator[None]:
    """While open, the port's `load.load_model` returns models with parameter `name` shifted by `delta`."""
    from ..registry import spec_for

    load = importlib.import_module(spec_for(model_type).module + ".load")
    original = load.load_model

    def load_broken(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        return perturb_parameter(out, name, delta)

    load.load_model = load_broken
    try:
        yield
    finally:
        load.load_model = original


def break_port(model_type: str, name: str, delta: float = 0.05, weights: str | Path = "fixture") -> ParityRun:
    """Parity of the port with MLX parameter `name` shifted by `delta`, tensors kept (reference unchanged)."""
    from ..parity.core import run

    with perturbed(model_type, name, delta):
        report = run(model_type, weights, keep_tensors=True)
    report.extras["broken"] = f"{name} + {delta:g}"
    report.extras["weights"] = str(weights)
    return ParityRun(report, report.tensors["mlx"], report.tensors["ref"])


def parity_view_figure(report: ParityReport, weights: str | None = None):
    """Max |MLX - PyTorch| per layer against its tolerance, log scale; the first layer outside it red."""
    from . import plots
    from ._view import new_figure

    n = len(report.layers)
    longest = max((len(r.name) for r in report.layers), default=0)
    # wider with many layers (0.2 in per rotated name), taller for long names, so the labels never overlap
    fig, ax = new_figure((min(20.0, max(10.0, 0.2 * n)), 2.6 + 0.055 * longest))
    plots.parity_bars(report, ax=ax)
    if n > 40:
        ax.tick_params(axis="x", labelsize=7)
    first = report.first_divergence
    weights = weights or report.extras.get("weights", "")
    state = f"first divergence: {first}" if first else "every layer within tolerance"
    ax.set_title(f"parity of {report.model}" + (f" on {weights} weights" if weights else "") + f" - {state}")
    from matplotlib.patches import Patch

    handles = [*ax.get_legend_handles_labels()[0], Patch(color="tab:blue", label="within tolerance"),
               Patch(color="tab:red", label="first divergence"), Patch(color="tab:orange", label="later failures")]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1))  # beside the bars
    return fig


class ParityView:
    """The report's checks table (text, validated by nbval) and its per-layer figure (PNG), in one output."""

    def __init__(self, report_or_run: ParityReport | ParityRun, weights: str | None = None, note: bool = True):
        self.report = report_or_run.report if isinstance(report_or_run, ParityRun) else report_or_run
        self.weights = weights  # the name shown in the title (default: the report's extras, a folder name)
        self.note = note  # False: leave out the outputs note (where it counts machine-dependent things)

    def figure(self):
        return parity_view_figure(self.report, self.weights)

    def summary(self) -> str:
        r = self.report
        n_ok = sum(x.ok for x in r.layers)
        head = (f"{r.model}: {n_ok}/{len(r.layers)} layers within tolerance, first divergence: "
                f"{r.first_divergence or 'none'}, outputs match: {'yes' if r.outputs_match else 'NO'}")
        checks = r.checks()
        if not self.note:
            checks = "\n".join(f"outputs match: {'yes' if r.outputs_match else 'NO'} (note: in the measured table)"
                               if line.startswith("outputs match:") else line for line in checks.splitlines())
        return head + "\n" + checks

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        import base64

        from ._view import png_bytes

        return {"text/plain": self.summary(),
                "image/png": base64.b64encode(png_bytes(self.figure(), 72)).decode("ascii")}

    def __repr__(self) -> str:
        return self.summary()


def divergence_index(report: ParityReport) -> int | None:
    """Position of the first diverging layer in forward order (None when all pass)."""
    names = [r.name for r in report.layers]
    first = report.first_divergence
    return None if first is None else names.index(first)


def error_ratio(report: ParityReport) -> np.ndarray:
    """max_abs / tol per layer (>1 means outside tolerance), the quantity the figure's bars compare."""
    return np.array([r.max_abs / r.tol for r in report.layers])
