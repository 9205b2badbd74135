"""The parity report as data: JSON with plain types, the first divergence, the tolerance rule."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from mlx_audio_lab.parity import ParityReport, below_tolerance, compare_arrays, sig1
from mlx_audio_lab.parity.core import report_from_json


def test_tolerance_is_absolute_plus_relative():
    want = np.full(4, 100.0)
    r = compare_arrays("x", want + 5e-4, want, tol=1e-4, rtol=1e-5)  # allowed: 1e-4 + 1e-3
    assert r.ok and abs(r.tol - 1.1e-3) < 1e-12 and abs(r.max_abs - 5e-4) < 1e-9
    assert not compare_arrays("x", want + 5e-4, want, tol=1e-4, rtol=0).ok


def test_shape_mismatch_and_nan_fail():
    assert not compare_arrays("x", np.zeros(3), np.zeros(4), 1e-4).ok
    r = compare_arrays("x", np.array([np.nan, 0.0]), np.zeros(2), 1e-4)
    assert not r.ok and "non-finite" in r.note


def test_json_from_numpy_values_and_first_divergence():
    rows = [compare_arrays("a", np.zeros(2), np.zeros(2), 1e-4),
            compare_arrays("b", np.ones(2), np.zeros(2), 1e-4),
            compare_arrays("c", np.ones(2), np.zeros(2), 1e-4)]
    report = ParityReport("m", rows, np.bool_(True), extras={"n": np.int64(3)})
    d = json.loads(report.to_json())
    assert d["first_divergence"] == "b" and d["ok"] is False and d["outputs_match"] is True
    assert d["extras"]["n"] == 3
    again = report_from_json(report.to_json())
    assert again.first_divergence == "b" and [r.max_abs for r in again.layers] == [0.0, 1.0, 1.0]


def test_sig1_rounds_to_one_significant_figure():
    assert sig1(0.000123) == "1e-04" and sig1(0) == "0"


def test_checks_view_has_no_rounding_noise_digits():
    """Two machines whose float32 errors differ only in rounding noise print the same `checks()`."""
    def report(noise: float) -> ParityReport:
        rows = [compare_arrays(n, np.full(3, noise * k, np.float32), np.zeros(3, np.float32), 1e-4)
                for k, n in enumerate(["enc", "dec"], start=1)]
        return ParityReport("m", rows, True, outputs_note=f"codes identical; audio max_abs {sig1(noise)}")

    a, b = report(1.2e-7), report(2.6e-7)
    assert a.table() != b.table() and a.checks() == b.checks()
    assert "2/2 layers within tolerance" in a.checks() and "audio max_abs <1e-04" in a.checks()
    bad = ParityReport("m", [compare_arrays("enc", np.ones(2), np.zeros(2), 1e-4)], True)
    assert "FAIL" in bad.checks() and "first divergence: enc" in bad.checks() and "parity: FAILED" in bad.checks()
    assert below_tolerance("err 3e-04, 2e-05 and 1e-4") == "err 3e-04, <1e-04 and 1e-4"


def test_fp32_means_fp32_on_cuda_by_default():
    """MLX's CUDA back end would run float32 matmuls in TF32 (3e-4 relative error) unless told otherwise."""
    code = "import os, mlx_audio_lab; print(os.environ['MLX_ENABLE_TF32'])"
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLX_ENABLE_TF32"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.strip()
    assert out == "0"
