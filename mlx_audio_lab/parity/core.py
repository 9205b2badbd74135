"""Run a port and its reference on the same inputs and compare them tap by tap."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..fixtures import quiet_reference
from .report import ParityReport, compare_arrays

LAYOUTS = {
    "same": lambda a: a,
    "channels_first": lambda a: np.swapaxes(a, -1, -2),  # torch (B, C, T) -> MLX (B, T, C)
}


@dataclass(frozen=True)
class TapPoint:
    """An MLX tap name, the reference module path it mirrors, its layout, and the tolerance.

    A tap passes when max-abs error <= tol + rtol * max |reference| (float32 rounding scales with size).
    """

    name: str
    ref: str
    tol: float = 1e-4
    layout: str = "same"
    rtol: float = 1e-5


def compare(model: str, points: list[TapPoint], mlx_acts: dict[str, Any], ref_acts: dict[str, np.ndarray],
            outputs_match: bool, outputs_note: str = "", keep_tensors: bool = False) -> ParityReport:
    """Build the report: one row per tap point, in the order declared (the forward order). `keep_tensors`:
    the report also holds both sides per tap (`report.tensors["mlx" | "ref"]`, reference in MLX layout)."""
    rows = []
    kept: dict[str, dict[str, np.ndarray]] = {"mlx": {}, "ref": {}}
    for p in points:
        if p.name not in mlx_acts:
            raise KeyError(f"MLX side recorded no tap {p.name!r} (recorded: {sorted(mlx_acts)})")
        if p.ref not in ref_acts:
            raise KeyError(f"reference side recorded no {p.ref!r} (recorded: {sorted(ref_acts)})")
        got = np.asarray(mlx_acts[p.name])
        want = LAYOUTS[p.layout](np.asarray(ref_acts[p.ref]))
        rows.append(compare_arrays(p.name, got, want, p.tol, p.rtol))
        if keep_tensors:
            kept["mlx"][p.name], kept["ref"][p.name] = got, want
    return ParityReport(model, rows, outputs_match, outputs_note, tensors=kept if keep_tensors else {})


def _reference_module(model_type: str):
    from ..registry import spec_for

    return importlib.import_module(spec_for(model_type).module + ".reference")


def _contiguous(v: Any) -> np.ndarray:
    """A C-contiguous copy that keeps a 0-d array 0-d (`np.ascontiguousarray` makes it (1,))."""
    a = np.asarray(v)
    return np.ascontiguousarray(a).reshape(a.shape)


def record(model_type: str, folder: Path, out: Path) -> Path:
    """Run the PyTorch reference on the port's parity inputs and save inputs + taps + outputs (safetensors)."""
    from safetensors.numpy import save_file

    quiet_reference()
    ref = _reference_module(model_type)
    inputs = ref.parity_inputs(folder)
    acts, outputs = ref.run_reference(folder, inputs)
    tensors = {f"input/{k}": _contiguous(v) for k, v in inputs.items()}
    tensors.update({f"tap/{k}": _contiguous(v) for k, v in acts.items()})
    tensors.update({f"output/{k}": _contiguous(v) for k, v in outputs.items()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"model_type": model_type, "folder": folder.name})
    return out


def load_recording(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs, taps, outputs) saved by `record`."""
    from safetensors.numpy import load_file

    t = load_file(str(path))
    split = {"input": {}, "tap": {}, "output": {}}
    for k, v in t.items():
        kind, name = k.split("/", 1)
        split[kind][name] = v
    return split["input"], split["tap"], split["output"]


def run(model_type: str, weights: str | Path = "fixture", recording: Path | None = None,
        keep_tensors: bool = False) -> ParityReport:
    """Parity of a port on `weights` ("fixture", a folder, hub id or bundled name) against the reference.

    With `recording`, the reference side is read from that file instead of running PyTorch. With
    `keep_tensors`, the report keeps both sides' activations per tap (`report.tensors`, for inspectors).
    """
    from ..fixtures import build
    from ..hub import resolve
    from ..registry import spec_for

    spec = spec_for(model_type)
    ref = _reference_module(spec.model_type)
    folder = build(spec.model_type) if str(weights) == "fixture" else resolve(weights)
    if recording is not None:
        inputs, ref_acts, ref_out = load_recording(Path(recording))
    else:
        quiet_reference()
        inputs = ref.parity_inputs(folder)
        ref_acts, ref_out = ref.run_reference(folder, inputs)
    mlx_acts, mlx_out = ref.run_mlx(folder, inputs)
    match, note = ref.outputs_match(mlx_out, ref_out)
    report = compare(spec.model_type, ref.tap_points(folder), mlx_acts, ref_acts, match, note, keep_tensors)
    if hasattr(ref, "extra_rows"):  # generation ports: teacher-forced logits, greedy / sampled token rows
        report.layers += ref.extra_rows(mlx_out, ref_out)
    report.extras = {"weights": "fixture" if str(weights) == "fixture" else Path(folder).name,
                     "reference": "recorded" if recording is not None else "live"}
    if hasattr(ref, "report_extras"):  # e.g. token agreement of bf16 / quantized runs with fp32
        report.extras.update(ref.report_extras(folder, inputs, mlx_out))
    return report


def report_from_json(text: str) -> ParityReport:
    """Rebuild a report from its JSON (for inspectors reading saved reports)."""
    from .report import LayerResult

    d = json.loads(text)
    return ParityReport(d["model"], [LayerResult(**r) for r in d["layers"]], d["outputs_match"],
                        d.get("outputs_note", ""), d.get("extras", {}))
