"""Parity: the same input through the MLX port and the PyTorch reference, compared at named points.

Each port's `reference.py` declares its tap points (MLX tap name -> reference module path, layout,
tolerance) as data and knows how to run both sides; this package runs them and builds the report.
The reference side is live PyTorch or tensors recorded from it earlier (`record`), so parity can be
proven where torch is not installed.
"""

from __future__ import annotations

from ..taps import capture, tap
from .core import TapPoint, compare, load_recording, record, run
from .modules import ModuleParityReport, Zoom, compare_modules
from .report import LayerResult, ParityReport, below_tolerance, compare_arrays, sig1

__all__ = [
    "LayerResult", "ModuleParityReport", "ParityReport", "TapPoint", "Zoom", "capture", "compare", "compare_arrays",
    "compare_modules", "load_recording",
    "below_tolerance", "record", "run", "sig1", "tap",
]
