"""Parity of any MLX module against any PyTorch module, matched by submodule name: no taps declared.

`compare_modules` runs both, records the output (and input) of every submodule that exists in both trees under
the same dotted name (ports keep upstream names; `name_map` bridges the rest), infers each pair's layout from the
shapes, and reports rows in the reference's forward (completion) order. `report.zoom(name)` re-runs one MLX
submodule on the reference's own input to it, so a wrong layer is told apart from an error inherited upstream.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .report import LayerResult, ParityReport, compare_arrays, sig1

# Axis orders tried (after "same") when the two sides' shapes differ: PyTorch channels-first to MLX channels-last.
_PREFERRED: tuple[tuple[int, ...], ...] = ((0, 2, 1), (0, 2, 3, 1), (1, 0), (1, 0, 2), (0, 1, 3, 2))


def infer_layout(ref_shape: Sequence[int], mlx_shape: Sequence[int]) -> tuple[int, ...] | None:
    """The axis permutation taking a reference tensor to the MLX layout (identity first); None if none fits.

    Ambiguous shapes (a square (B, C, T) with C == T) resolve to the identity: pass `layouts` to say otherwise.
    """
    ref_shape, mlx_shape = tuple(ref_shape), tuple(mlx_shape)
    if len(ref_shape) != len(mlx_shape):
        return None
    identity = tuple(range(len(ref_shape)))
    candidates = [identity, *(p for p in _PREFERRED if len(p) == len(ref_shape))]
    candidates += [p for p in itertools.permutations(identity) if p not in candidates] if len(identity) <= 5 else []
    return next((p for p in candidates if tuple(ref_shape[i] for i in p) == mlx_shape), None)


def _first_array(out: Any) -> Any:
    """The first tensor of a module's output (tuples, lists, dicts and ModelOutput objects)."""
    if isinstance(out, Mapping):
        out = next(iter(out.values()), None)
    elif hasattr(out, "last_hidden_state"):
        out = out.last_hidden_state
    if isinstance(out, (tuple, list)):
        return _first_array(out[0]) if out else None
    return out


def _to_numpy(x: Any) -> np.ndarray | None:
    x = _first_array(x)
    if isinstance(x, mx.array):
        return np.array(x.astype(mx.float32) if mx.issubdtype(x.dtype, mx.floating) else x)
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        return x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return None


@dataclass
class Recording:
    """One side's run: outputs and inputs of each submodule (first call), in completion order."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: dict[str, tuple[tuple, dict]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    result: Any = None


def _call(module: Any, inputs: Any, call: Callable | None) -> Any:
    if call is not None:
        return call(module, inputs)
    if isinstance(inputs, Mapping):
        return module(**inputs)
    return module(*inputs) if isinstance(inputs, (tuple, list)) else module(inputs)


def record_torch(module: Any, inputs: Any, names: Iterable[str] | None = None, call: Callable | None = None
                 ) -> Recording:
    """Run a torch module under forward hooks on its named submodules (all, or `names`)."""
    import torch

    rec = Recording()
    wanted = None if names is None else set(names)
    handles = []
    for name, sub in module.named_modules():
        if not name or (wanted is not None and name not in wanted):
            continue

        def pre(_m, args, kwargs, name=name):
            if name not in rec.inputs:
                rec.inputs[name] = (tuple(a.detach().clone() if torch.is_tensor(a) else a for a in args), dict(kwargs))

        def post(_m, _args, out, name=name):
            if name not in rec.outputs:
                arr = _to_numpy(out)
                if arr is not None:
                    rec.outputs[name] = arr
                    rec.order.append(name)

        handles.append(sub.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(sub.register_forward_hook(post))
    try:
        with torch.no_grad():
            rec.result = _call(module, inputs, call)
    finally:
        for h in handles:
            h.remove()
    return rec


def record_mlx(module: nn.Module, inputs: Any, names: Iterable[str] | None = None, call: Callable | None = None
               ) -> Recording:
    """Run an MLX module with each named submodule's `__call__` wrapped (a per-instance subclass, undone after)."""
    rec = Recording()
    wanted = None if names is None else set(names)
    swapped: list[tuple[nn.Module, type]] = []
    seen: set[int] = set()
    for name, sub in sorted(module.named_modules(), key=lambda kv: kv[0]):
        if not name or (wanted is not None and name not in wanted) or id(sub) in seen:
            continue
        seen.add(id(sub))
        cls = type(sub)

        def wrapped(self, *args, _tap_name=name, _cls=cls, **kwargs):
            if _tap_name not in rec.inputs:
                rec.inputs[_tap_name] = (args, kwargs)
            out = _cls.__call__(self, *args, **kwargs)
            if _tap_name not in rec.outputs:
                arr = _to_numpy(out)
                if arr is not None:
                    rec.outputs[_tap_name] = arr
                    rec.order.append(_tap_name)
            return out

        sub.__class__ = type(cls.__name__, (cls,), {"__call__": wrapped})
        swapped.append((sub, cls))
    try:
        rec.result = _call(module, inputs, call)
        mx.eval(rec.result) if isinstance(rec.result, mx.array) else None
    finally:
        for sub, cls in swapped:
            sub.__class__ = cls
    return rec


@dataclass
class Zoom:
    """One layer seen two ways: in the full run (inherited input) and on the reference's own input (isolated)."""

    name: str
    inherited: LayerResult
    isolated: LayerResult

    @property
    def verdict(self) -> str:
        if not self.isolated.ok:
            return "the layer itself is wrong: it diverges on the reference's own input"
        if not self.inherited.ok:
            return "error inherited from upstream: on the reference's own input the layer is within tolerance"
        return "within tolerance both ways"

    def __str__(self) -> str:
        """One line; rounding-noise magnitudes written `<1e-04` so the text is the same on any CPU."""
        def mag(x: float) -> str:
            return "<1e-04" if x < 1e-4 else sig1(x)

        return (f"{self.name}: in the full run max_abs {mag(self.inherited.max_abs)} "
                f"({'pass' if self.inherited.ok else 'FAIL'}); on the reference's input max_abs "
                f"{mag(self.isolated.max_abs)} ({'pass' if self.isolated.ok else 'FAIL'}) -> {self.verdict}")


@dataclass
class ModuleParityReport(ParityReport):
    """A ParityReport from `compare_modules`, keeping both recordings so that any row can be zoomed."""

    mlx_run: Recording = field(default_factory=Recording, repr=False)
    ref_run: Recording = field(default_factory=Recording, repr=False)
    mlx_module: Any = field(default=None, repr=False)
    layouts: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    name_map: dict[str, str] = field(default_factory=dict, repr=False)

    def zoom(self, name: str) -> Zoom:
        """Re-run MLX submodule `name` on the reference's input to it (teacher forcing at the layer)."""
        row = next((r for r in self.layers if r.name == name), None)
        if row is None:
            raise KeyError(f"no row {name!r}; rows: {[r.name for r in self.layers]}")
        ref_name = self.name_map.get(name, name)
        if ref_name not in self.ref_run.inputs or name not in self.mlx_run.inputs:
            raise KeyError(f"{name!r} recorded no input on both sides")
        (ref_args, ref_kwargs), (mlx_args, mlx_kwargs) = self.ref_run.inputs[ref_name], self.mlx_run.inputs[name]
        args = tuple(_teacher(r, m) for r, m in zip(ref_args, mlx_args)) + tuple(mlx_args[len(ref_args):])
        kwargs = {k: _teacher(ref_kwargs[k], v) if k in ref_kwargs else v for k, v in mlx_kwargs.items()}
        sub = dict(self.mlx_module.named_modules())[name]
        got = _to_numpy(sub(*args, **kwargs))
        want = _layout(self.ref_run.outputs[ref_name], self.layouts.get(name))
        isolated = compare_arrays(name, got, want, row.tol, 0.0)
        return Zoom(name, row, isolated)


def _teacher(ref_value: Any, mlx_value: Any) -> Any:
    """The reference's input in the MLX side's layout and dtype (non-tensors: the MLX side's own value)."""
    ref = _to_numpy(ref_value) if hasattr(ref_value, "detach") else None
    if ref is None or not isinstance(mlx_value, mx.array):
        return mlx_value
    perm = infer_layout(ref.shape, mlx_value.shape)
    if perm is None:
        return mlx_value
    return mx.array(np.ascontiguousarray(ref.transpose(perm))).astype(mlx_value.dtype)


def _layout(a: np.ndarray, perm: tuple[int, ...] | None) -> np.ndarray:
    return a if perm is None else a.transpose(perm)


def compare_modules(
    mlx_module: nn.Module,
    torch_module: Any,
    mlx_inputs: Any,
    torch_inputs: Any,
    *,
    taps: str | Sequence[str] = "auto",
    name_map: Mapping[str, str] | None = None,
    layouts: Mapping[str, str | tuple[int, ...]] | None = None,
    tol: float = 1e-4,
    rtol: float = 1e-5,
    tols: Mapping[str, float] | None = None,
    mlx_call: Callable | None = None,
    torch_call: Callable | None = None,
    model: str = "module",
) -> ModuleParityReport:
    """Compare every submodule present in both trees (or the names in `taps`), in the reference's forward order.

    `name_map` maps MLX names to reference names where they differ; `layouts` forces a pair's layout
    ("same", "channels_first" or an axis permutation of the reference tensor); `tols` overrides `tol` per name;
    `mlx_call(module, inputs)` / `torch_call(module, inputs)` run anything that is not a plain forward
    (a generation step, a method other than `__call__`).
    """
    name_map = dict(name_map or {})
    named = ("same", "channels_first")
    mlx_names = {n for n, _ in mlx_module.named_modules() if n}
    ref_names = {n for n, _ in torch_module.named_modules() if n}
    if taps == "auto":
        pairs = {n: name_map.get(n, n) for n in mlx_names if name_map.get(n, n) in ref_names}
    else:
        pairs = {n: name_map.get(n, n) for n in taps}
        unknown = [n for n, r in pairs.items() if n not in mlx_names or r not in ref_names]
        if unknown:
            raise KeyError(f"taps not in both module trees: {unknown}")
    ref_run = record_torch(torch_module, torch_inputs, pairs.values(), torch_call)
    mlx_run = record_mlx(mlx_module, mlx_inputs, pairs, mlx_call)
    by_ref = {r: m for m, r in pairs.items()}
    rows, perms = [], {}
    for ref_name in ref_run.order:  # the reference's completion order: inner layers before their parents
        name = by_ref.get(ref_name)
        if name is None or name not in mlx_run.outputs:
            continue
        got, want = mlx_run.outputs[name], ref_run.outputs[ref_name]
        forced = (layouts or {}).get(name)
        if forced is None:
            perm = infer_layout(want.shape, got.shape)
        elif isinstance(forced, str):
            if forced not in named:
                raise ValueError(f"layout {forced!r} of {name}: use 'same', 'channels_first' or a permutation")
            last_two = (want.ndim - 1, want.ndim - 2)
            perm = tuple(range(want.ndim)) if forced == "same" else (*range(want.ndim - 2), *last_two)
        else:
            perm = tuple(forced)
        perms[name] = perm
        row = compare_arrays(name, got, _layout(want, perm), (tols or {}).get(name, tol), rtol)
        if perm is None:
            row.note = f"no layout maps reference {tuple(want.shape)} to MLX {tuple(got.shape)}"
        rows.append(row)
    got, want = _to_numpy(mlx_run.result), _to_numpy(ref_run.result)
    if got is None or want is None:
        match, note = bool(rows) and all(r.ok for r in rows), "no tensor output to compare"
    else:
        final = compare_arrays("output", got, _layout(want, infer_layout(want.shape, got.shape)), tol, rtol)
        match, note = final.ok, f"final output max_abs {sig1(final.max_abs)} (tol {sig1(final.tol)})"
    report = ModuleParityReport(model, rows, outputs_match=match, outputs_note=note, mlx_run=mlx_run,
                                ref_run=ref_run, mlx_module=mlx_module, layouts=perms, name_map=name_map)
    # both sides per row, the reference in the MLX layout: what `parity.run(keep_tensors=True)` keeps
    report.tensors = {"mlx": {r.name: mlx_run.outputs[r.name] for r in rows},
                      "ref": {r.name: _layout(ref_run.outputs[name_map.get(r.name, r.name)], perms.get(r.name))
                              for r in rows}}
    return report
