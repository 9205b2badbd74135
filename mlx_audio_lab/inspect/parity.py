"""ParityInspector: error per layer against tolerance; pick a layer for its difference histogram and worst spots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..parity.report import ParityReport
from . import plots
from ._view import Inspector, new_figure


@dataclass
class ParityRun:
    """A parity report plus the raw tensors behind it: MLX and reference (already in MLX layout) per tap."""

    report: ParityReport
    mlx: dict[str, np.ndarray] = field(default_factory=dict)
    ref: dict[str, np.ndarray] = field(default_factory=dict)

    def pair(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(MLX, reference) arrays of tap `name`."""
        if name not in self.mlx:
            raise KeyError(f"no tensors kept for {name!r} (have: {list(self.mlx)})")
        return self.mlx[name], self.ref[name]


def run_with_tensors(model_type: str, weights: str | Path = "fixture") -> ParityRun:
    """`parity.run` keeping both sides' tensors at every tap (reference transposed to MLX layout)."""
    from ..parity.core import run

    report = run(model_type, weights, keep_tensors=True)
    return ParityRun(report, report.tensors["mlx"], report.tensors["ref"])


@dataclass
class Differences:
    """Histogram of |MLX - reference| (log-spaced bins) and the k worst elements."""

    counts: np.ndarray
    edges: np.ndarray
    worst_index: list[tuple[int, ...]]
    worst_mlx: np.ndarray
    worst_ref: np.ndarray
    worst_diff: np.ndarray
    zeros: int


def differences(got: np.ndarray, want: np.ndarray, bins: int = 30, k: int = 5) -> Differences:
    """Element differences of two same-shape arrays: log-binned histogram of |d| > 0, exact zeros, top-k."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise ValueError(f"shapes differ: {got.shape} vs {want.shape}")
    d = np.abs(got - want).ravel()
    nz = d[d > 0]
    lo = np.log10(nz.min()) if nz.size else -12.0
    hi = np.log10(nz.max()) if nz.size else -11.0
    edges = np.logspace(np.floor(lo), np.ceil(hi) if hi > lo else np.floor(lo) + 1, bins + 1)
    counts, _ = np.histogram(nz, bins=edges)
    k = min(k, d.size)
    flat = np.argsort(-d, kind="stable")[:k]
    idx = [tuple(int(i) for i in np.unravel_index(f, got.shape)) for f in flat]
    return Differences(counts, edges, idx, got.ravel()[flat], want.ravel()[flat], d[flat], int(d.size - nz.size))


def worst_table(diff: Differences) -> str:
    """The worst elements as fixed-width text (index, MLX, reference, |diff|)."""
    rows = [f"{'index':<22} {'mlx':>12} {'reference':>12} {'|diff|':>9}"]
    for i, a, b, d in zip(diff.worst_index, diff.worst_mlx, diff.worst_ref, diff.worst_diff):
        rows.append(f"{str(i):<22} {a:>12.5g} {b:>12.5g} {d:>9.1e}")
    return "\n".join(rows)


def parity_figure(report: ParityReport, layer: str | None = None, run: ParityRun | None = None):
    """Bars of error per layer vs tolerance (first divergence red); with tensors, the layer's histogram below."""
    detail = run is not None and layer is not None and layer in run.mlx
    fig, axes = new_figure((10, 6.5 if detail else 3.5), 2 if detail else 1, 1)
    ax_bars = axes[0] if detail else axes
    plots.parity_bars(report, ax=ax_bars, highlight=layer)
    if detail:
        row = next(r for r in report.layers if r.name == layer)
        d = differences(*run.pair(layer))
        ax = axes[1]
        ax.stairs(d.counts, d.edges, fill=True, color="tab:blue")
        ax.set_xscale("log")
        ax.axvline(row.tol, color="k", ls="--", lw=1, label=f"tolerance {row.tol:.0e}")
        ax.set(xlabel="|MLX - PyTorch| per element", ylabel="elements",
               title=f"{layer}: {sum(d.counts)} nonzero differences, {d.zeros} exact")
        ax.legend(fontsize=8)
    return fig


class ParityInspector(Inspector):
    """Bar chart of a report; with a `ParityRun` (`run_with_tensors`) a layer picker shows differences."""

    css_class = "mal-parity-inspector"

    def __init__(self, report_or_run: ParityReport | ParityRun, layer: str | None = None):
        super().__init__()
        run = report_or_run if isinstance(report_or_run, ParityRun) else None
        self.run = run
        self.report = run.report if run is not None else report_or_run
        names = [r.name for r in self.report.layers]
        self.layer = layer or self.report.first_divergence or (names[-1] if names else None)
        self._table = None

    @classmethod
    def for_model(cls, model_type: str, weights: str | Path = "fixture") -> ParityInspector:
        """Run parity for `model_type` keeping the tensors, and inspect it."""
        return cls(run_with_tensors(model_type, weights))

    def details(self, layer: str | None = None) -> Differences | None:
        """Differences of `layer` (default: the selected one), or None without tensors."""
        layer = layer or self.layer
        if self.run is None or layer not in self.run.mlx:
            return None
        return differences(*self.run.pair(layer))

    def figure(self):
        return parity_figure(self.report, self.layer, self.run)

    def summary(self) -> str:
        r = self.report
        n_ok = sum(x.ok for x in r.layers)
        return (f"ParityInspector: {r.model}, {n_ok}/{len(r.layers)} layers within tolerance, first divergence: "
                f"{r.first_divergence or 'none'}, outputs match: {'yes' if r.outputs_match else 'NO'}")

    def status(self) -> str:
        row = next((x for x in self.report.layers if x.name == self.layer), None)
        if row is None:
            return "no layer selected"
        return f"{row.name}: max_abs {row.max_abs:.1e}, tol {row.tol:.0e}, {'pass' if row.ok else 'FAIL'}"

    def _table_html(self) -> str:
        import html

        d = self.details()
        return "" if d is None else f"<pre>{html.escape(worst_table(d))}</pre>"

    def refresh(self, *args) -> None:
        super().refresh(*args)
        if self._table is not None:
            self._table.value = self._table_html()

    def _controls(self) -> list:
        import ipywidgets as W

        pick = W.Dropdown(options=[r.name for r in self.report.layers], value=self.layer, description="layer")
        pick.add_class("mal-layer")

        def on_change(ch):
            self.layer = ch["new"]
            self.refresh()

        pick.observe(on_change, names="value")
        return [pick]

    def _extra(self) -> list:
        import ipywidgets as W

        self._table = W.HTML(value=self._table_html())
        self._table.add_class("mal-worst")
        return [self._table]
