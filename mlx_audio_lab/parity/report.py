"""The parity report: data first (dataclasses, JSON); the text table and HTML are views of it."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..metrics import sig1  # noqa: F401  (re-exported: parity.sig1)

_SMALL = re.compile(r"\b\d(?:\.\d+)?e-(?:0?[5-9]|[1-9]\d)\b")


def below_tolerance(text: str, bound: str = "1e-04") -> str:
    """`text` with magnitudes under 1e-4 (float32 rounding noise, machine-dependent digits) written as `<1e-04`."""
    return _SMALL.sub(f"<{bound}", text)


@dataclass
class LayerResult:
    """One tap point compared: MLX vs reference."""

    name: str
    shape: list[int]
    max_abs: float
    rel_err: float
    tol: float
    ok: bool
    ref_shape: list[int] | None = None
    note: str = ""

    def __post_init__(self) -> None:  # plain Python numbers, so reports serialize whatever numpy gave us
        self.max_abs, self.rel_err, self.tol = float(self.max_abs), float(self.rel_err), float(self.tol)
        self.ok = bool(self.ok)


@dataclass
class ParityReport:
    """Per-layer comparison, the first diverging layer, and whether the final outputs match."""

    model: str
    layers: list[LayerResult]
    outputs_match: bool
    outputs_note: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    # {"mlx": {tap: array}, "ref": {tap: array in MLX layout}} when kept (`parity.run(keep_tensors=True)`);
    # not part of the JSON
    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.outputs_match = bool(self.outputs_match)

    @property
    def first_divergence(self) -> str | None:
        """Name of the first layer (in forward order) outside its tolerance."""
        return next((r.name for r in self.layers if not r.ok), None)

    @property
    def ok(self) -> bool:
        return bool(self.layers) and all(r.ok for r in self.layers) and self.outputs_match

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "layers": [asdict(r) for r in self.layers],
            "first_divergence": self.first_divergence,
            "outputs_match": self.outputs_match,
            "outputs_note": self.outputs_note,
            "ok": self.ok,
            **({"extras": self.extras} if self.extras else {}),
        }

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), default=_plain, **kw)

    def table(self, exact: bool = False) -> str:
        """Fixed-width text table; errors to one significant figure unless `exact`."""
        fmt = (lambda x: f"{x:.3e}") if exact else sig1
        rows = [("layer", "shape", "max_abs", "rel_err", "tol", "ok")]
        for r in self.layers:
            rows.append((r.name, "x".join(map(str, r.shape)), fmt(r.max_abs), fmt(r.rel_err), sig1(r.tol),
                         "pass" if r.ok else "FAIL"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"first divergence: {self.first_divergence or 'none'}")
        lines.append(f"outputs match: {'yes' if self.outputs_match else 'NO'}"
                     + (f" ({self.outputs_note})" if self.outputs_note else ""))
        lines.append(f"parity: {'ok' if self.ok else 'FAILED'}")
        return "\n".join(lines)

    def checks(self) -> str:
        """The machine-independent view: each layer's tolerance and pass/fail, no rounding-noise digits.

        A float32 error's digits follow the CPU's kernels (AVX2 vs AVX-512 round differently), so stored
        notebook outputs validate this view; `table()` shows the measured errors.
        """
        rows = [("layer", "shape", "tol", "ok")]
        rows += [(r.name, "x".join(map(str, r.shape)), sig1(r.tol), "pass" if r.ok else "FAIL") for r in self.layers]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        passed = sum(r.ok for r in self.layers)
        lines.append(f"{passed}/{len(self.layers)} layers within tolerance (max_abs <= tol + rtol * max|ref|)")
        lines.append(f"first divergence: {self.first_divergence or 'none'}")
        note = f" ({below_tolerance(self.outputs_note)})" if self.outputs_note else ""
        lines.append(f"outputs match: {'yes' if self.outputs_match else 'NO'}{note}")
        lines.append(f"parity: {'ok' if self.ok else 'FAILED'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        head = "<tr><th>layer</th><th>shape</th><th>max_abs</th><th>rel_err</th><th>tol</th><th>ok</th></tr>"
        body = "".join(
            f"<tr style='color:{'inherit' if r.ok else '#c00'}'><td>{r.name}</td>"
            f"<td>{'x'.join(map(str, r.shape))}</td><td>{sig1(r.max_abs)}</td><td>{sig1(r.rel_err)}</td>"
            f"<td>{sig1(r.tol)}</td><td>{'pass' if r.ok else 'FAIL'}</td></tr>"
            for r in self.layers
        )
        tail = (f"<p>first divergence: <b>{self.first_divergence or 'none'}</b>; outputs match: "
                f"<b>{'yes' if self.outputs_match else 'NO'}</b>; parity: <b>{'ok' if self.ok else 'FAILED'}</b></p>")
        return f"<table>{head}{body}</table>{tail}"


def _plain(x: Any) -> Any:
    """numpy scalars and arrays in `extras` -> plain JSON values."""
    return x.item() if hasattr(x, "item") and getattr(x, "size", 1) == 1 else np.asarray(x).tolist()


def compare_arrays(name: str, got: np.ndarray, want: np.ndarray, tol: float, rtol: float = 0.0) -> LayerResult:
    """max-abs and relative (max-abs / max |reference|) error of one tap point.

    It passes when max-abs <= tol + rtol * max |reference| (the `tol` reported is that sum): float32
    rounding grows with the magnitude of the activations, so real weights need the relative part.
    """
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return LayerResult(name, list(got.shape), math.inf, math.inf, tol, False, list(want.shape),
                           note=f"shape {tuple(got.shape)} vs reference {tuple(want.shape)}")
    diff = np.abs(got - want)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(want).max()) if want.size else 0.0
    rel = max_abs / scale if scale > 0 else max_abs
    tol = tol + rtol * scale
    finite = bool(np.isfinite(got).all())
    return LayerResult(name, list(got.shape), max_abs, rel, tol, finite and max_abs <= tol,
                       note="" if finite else "non-finite values")
