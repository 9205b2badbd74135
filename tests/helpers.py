"""Checks the model tests share: fixture folders and models, parity reports, bad checkpoints, codes and audio.

Imported as `helpers` (pytest puts `tests/` on the path for `tests/conftest.py`).
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_audio_lab
from mlx_audio_lab.convert import CheckpointError


def fixture_trio(model_type: str, size: str = "tiny", names: Sequence[str] = ("folder", "model", "reference")):
    """Module-scoped fixtures named `names`: the fixture folder, the port loaded from it, and its reference."""
    folder_name = names[0]

    @pytest.fixture(scope="module", name=names[0])
    def folder() -> Path:
        from mlx_audio_lab.fixtures import build

        return build(model_type, size)

    @pytest.fixture(scope="module", name=names[1])
    def model(request: pytest.FixtureRequest):
        return mlx_audio_lab.load(request.getfixturevalue(folder_name))

    @pytest.fixture(scope="module", name=names[2])
    def reference(request: pytest.FixtureRequest):
        from mlx_audio_lab.registry import spec_for

        module = importlib.import_module(spec_for(model_type).module + ".reference")
        return module.load_reference(request.getfixturevalue(folder_name))

    return folder, model, reference


def params(model) -> dict[str, np.ndarray]:
    """A model's parameters as numpy arrays, by flat name."""
    return {k: np.array(v) for k, v in tree_flatten(model.parameters())}


def assert_same_parameters(model, again) -> None:
    """The two models hold the same parameter names with bit-identical values."""
    base, got = params(model), params(again)
    assert base.keys() == got.keys()
    for k, v in got.items():
        assert np.array_equal(v, base[k]), k


def assert_round_trip(model, tmp_path: Path):
    """Save `model` in the project's MLX layout and load it back: the same parameters, bit for bit; the copy."""
    from mlx_audio_lab.convert.save import save_model

    again = mlx_audio_lab.load(save_model(model, tmp_path / "mlx"))
    assert_same_parameters(model, again)
    return again


def assert_parity_every_layer(report, tol: float | Mapping[str, float] = 1e-4, default: float = 1e-4) -> list[str]:
    """Every tapped layer within `tol` (one number, or per layer name with `default`), no divergence, outputs
    equal, report ok; returns the layer names."""
    for r in report.layers:
        limit = tol if isinstance(tol, float) else tol.get(r.name, default)
        assert r.max_abs <= limit, r
    assert report.first_divergence is None
    assert report.outputs_match, report.outputs_note
    assert report.ok, report.table()
    return [r.name for r in report.layers]


def checkpoint_error(folder: Path, tmp_path: Path, edit: Callable[[dict], Any],
                     load: Callable[[Path], Any] = mlx_audio_lab.load) -> str:
    """Copy `folder`, `edit` its state dict in place (safetensors keeping its metadata, or `pytorch_model.bin`),
    and return the message of the CheckpointError that loading the copy raises."""
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    weights = bad / "model.safetensors"
    if weights.is_file():
        from safetensors import safe_open
        from safetensors.numpy import load_file, save_file

        with safe_open(str(weights), framework="numpy") as f:
            metadata = f.metadata()
        state = load_file(str(weights))
        edit(state)
        save_file(state, str(weights), metadata=metadata)
    else:
        import torch

        weights = bad / "pytorch_model.bin"
        state = torch.load(weights, weights_only=True)
        edit(state)
        torch.save(state, weights)
    with pytest.raises(CheckpointError) as e:
        load(bad)
    return str(e.value)


def assert_codes_equal_but_ties(got, want, tie_gaps: Callable[[], list[float]], tol: float) -> None:
    """Codes equal to the reference's except argmin/argmax near-ties (each gap below `tol`); codebook 0 varied.

    `got` / `want`: arrays (codebooks, frames) or lists of per-scale arrays."""
    mismatches = sum(int((np.asarray(a) != np.asarray(b)).sum()) for a, b in zip(got, want))
    if mismatches:
        gaps = tie_gaps()
        assert max(gaps) < tol, f"{mismatches} codes differ and are not ties: {gaps}"
    assert len(np.unique(want[0])) >= 10, "codebook 0 nearly constant: the fixture hides mapping bugs"


def assert_decoded_close(audio: np.ndarray, want: np.ndarray, tol: float = 1e-4) -> None:
    """Decoded audio: float32, the reference's shape, within `tol` max-abs, and not silence."""
    assert audio.dtype == np.float32 and audio.shape == tuple(want.shape)
    assert np.abs(audio - np.asarray(want)).max() <= tol
    assert audio.std() > 1e-3


def l2_tie_gaps(residual, embeds: Sequence, ref_codes: np.ndarray, got: np.ndarray) -> list[float]:
    """Nearest-codeword residual VQ in float64 on the reference's residual (frames, D): for each differing code,
    |d(ours) - d(theirs)| / d(theirs). `embeds` are the stages' codebooks, aligned with the codes' rows."""
    import torch

    gaps = []
    for embed, want_k, got_k in zip(embeds, ref_codes, got):
        embed = embed.double()
        for t in np.flatnonzero(want_k != got_k):
            d = ((residual[t] - embed) ** 2).sum(-1)
            gaps.append(float(abs(d[got_k[t]] - d[want_k[t]]) / d[want_k[t]]))
        residual = residual - embed[torch.from_numpy(want_k)]
    return gaps


def cosine_tie_gaps(latents, codebook, want: np.ndarray, got: np.ndarray) -> list[float]:
    """Cosine-similarity VQ of one stage in float64 (latents (frames, d)): the score gap of each differing code."""
    import torch.nn.functional as F

    score = F.normalize(latents.double()) @ F.normalize(codebook.double()).T
    return [float(abs(score[t, got[t]] - score[t, want[t]])) for t in np.flatnonzero(want != got)]


def reference_runs(model_type: str, ref: Any, folder: Path) -> tuple[Any, dict, dict]:
    """Both sides of a generation port on its parity inputs, once: (report with the port's extra rows, MLX
    outputs, reference outputs); `ref` is the port's reference module."""
    from mlx_audio_lab import parity

    parity.core.quiet_reference()
    inputs = ref.parity_inputs(folder)
    ref_acts, ref_out = ref.run_reference(folder, inputs)
    mlx_acts, mlx_out = ref.run_mlx(folder, inputs)
    match, note = ref.outputs_match(mlx_out, ref_out)
    report = parity.compare(model_type, ref.tap_points(folder), mlx_acts, ref_acts, match, note)
    if hasattr(ref, "extra_rows"):
        report.layers += ref.extra_rows(mlx_out, ref_out)
    return report, mlx_out, ref_out


def peak_growth_mb(fn: Callable[[], Any]) -> float:
    """MB of MLX memory `fn` needs above what was already held (peak - active before): arrays other tests keep alive
    (models of module-scoped fixtures) do not count, so ratios between two calls measure the calls."""
    import mlx.core as mx

    mx.eval(mx.zeros(1))
    mx.clear_cache()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    fn()
    return (mx.get_peak_memory() - before) / 2**20
