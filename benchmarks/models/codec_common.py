"""What the codec and TTS benchmarks share: seeded real-size weights, engines, and the encode/decode measurement.

An `Engine` is one implementation (this port, the PyTorch reference, mlx-audio's port) with its encode and decode
closures over prepared inputs; `measure` times them interleaved, takes peak memory, and checks that the
engines agree (codes equal to the reference's, finite audio), so a weight-transfer slip shows in the JSON.
Weights are seeded random at the real config's size: values do not change speed, but they are kept O(1)
(unit weight-norm gains, 1/sqrt(fan-in) scales) so no activation overflows or turns denormal.
"""

from __future__ import annotations

import re
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import harness

LAB, TORCH, PEER = "mlx_audio_lab", "torch", "mlx_audio"


@dataclass
class Engine:
    """One implementation under test: its stages as zero-argument closures, how to sync, its weights' MiB."""

    name: str
    kind: str  # "mlx" or "torch" (which memory counter and sync apply)
    stages: dict[str, Callable[[], Any]]
    sync: harness.Sync
    weights_mb: float
    codes: Callable[[], np.ndarray | list[np.ndarray]] | None = None  # the encoder's codes, for agreement
    notes: dict[str, Any] = field(default_factory=dict)


def seeded_weights_(module, seed: int = 0, keep: tuple[str, ...] = ()) -> None:
    """Seeded random values at a sane scale for every float parameter and buffer of a torch module.

    Weight-norm gains ~1 (so each conv keeps its input's scale), matrices and conv kernels N(0, 1/fan_in),
    all-ones tensors (norm scales) 1 + noise, the rest small noise. Names in `keep` (rotary tables) stay.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(module.named_parameters()) + list(module.named_buffers()):
            if not p.dtype.is_floating_point or any(name.endswith(k) for k in keep) or not p.numel():
                continue
            noise = torch.randn(p.shape, generator=g)
            if name.endswith(("original0", "weight_g")):
                p.copy_(1.0 + 0.1 * noise)
            elif p.ndim >= 2:
                p.copy_(noise / max(p.numel() // p.shape[0], 1) ** 0.5)
            elif bool(torch.all(p == 1)):
                p.copy_(1.0 + 0.05 * noise)
            else:
                p.copy_(0.05 * noise)


def torch_engine_module(model, ctx: harness.Context):
    """The reference in eval mode on the benchmark's device and dtype, gradients off."""
    return model.to(device=ctx.torch_device, dtype=ctx.torch_dtype).eval().requires_grad_(False)


def temp_folder(prefix: str) -> Path:
    """A fresh folder for one run's checkpoint in the upstream layout (removed with the process's tmp)."""
    return Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))


def hf_reference(model_cls, config_cls, cfg: dict, name: str, keep: tuple[str, ...] = ()):
    """A transformers reference built from the real config with seeded weights, saved in the upstream layout.

    Returns (reference in eval mode, its folder) so every engine loads the same weights.
    """
    import torch

    torch.manual_seed(0)
    reference = model_cls(config_cls(**cfg)).eval()
    seeded_weights_(reference, seed=0, keep=keep)
    folder = temp_folder(name)
    reference.save_pretrained(folder, safe_serialization=True)
    return reference, folder


def mlx_params(model) -> dict[str, Any]:
    """An MLX module's parameters, flat."""
    from mlx.utils import tree_flatten

    return dict(tree_flatten(model.parameters()))


def load_peer(model, weights: dict[str, Any], dtype) -> None:
    """Load mapped weights into an mlx-audio module, every key checked (strict), cast to the benchmark dtype."""
    import mlx.core as mx

    model.load_weights([(k, mx.array(v).astype(dtype)) for k, v in weights.items()], strict=True)
    mx.eval(model.parameters())
    model.eval()


def sequential_to_peer(state: dict[str, np.ndarray], expected: dict[str, Any]) -> dict[str, np.ndarray]:
    """Torch `nn.Sequential` names -> mlx-audio's (`block.0` -> `block.layers.0`, weight norm -> weight_g / _v).

    Conv kernels go (out, in, k) -> (out, k, in); transposed convs' (in, out, k) to whichever of (in, k, out)
    or (out, k, in) the port expects; a plain conv where mlx-audio keeps weight norm gets v = the kernel and
    g = its norm. Tensors whose shape differs only by unit axes (Snake's alpha) are reshaped.
    """
    out: dict[str, np.ndarray] = {}
    for k, v in state.items():
        k2 = re.sub(r"(^|\.)(block|model)\.(\d+)", r"\1\2.layers.\3", k)
        k2 = k2.replace(".parametrizations.weight.original0", ".weight_g")
        k2 = k2.replace(".parametrizations.weight.original1", ".weight_v")
        gain = None
        if k2.endswith(".weight") and k2 not in expected and k2[:-6] + "weight_v" in expected:
            k2, gain = k2[:-6] + "weight_v", k2[:-6] + "weight_g"  # plain conv, weight-normed there
        if k2 not in expected:
            continue  # codebook statistics and other training-only buffers
        want = tuple(expected[k2].shape)
        if v.ndim == 3 and k2.endswith(("weight_v", "weight")):
            # (out, in, k) -> (out, k, in); a transposed conv's (in, out, k) -> (in, k, out) or (out, k, in)
            v = next((p for p in (v.swapaxes(1, 2), v.transpose(1, 2, 0)) if p.shape == want), v.swapaxes(1, 2))
        if gain is not None:
            axes = tuple(i for i, d in enumerate(expected[gain].shape) if d == 1)
            out[gain] = np.sqrt((v.astype(np.float64) ** 2).sum(axis=axes, keepdims=True)).astype(v.dtype)
        if v.shape != want and v.size == int(np.prod(want)) and sorted(d for d in v.shape if d > 1) == sorted(
                d for d in want if d > 1):
            v = v.reshape(want)
        out[k2] = v
    return out


def guarded(ctx: harness.Context, name: str, build: Callable[[], Engine], errors: dict[str, str]) -> Engine | None:
    """Build an engine unless `--set engines=a,b` leaves it out; on failure record the error (a missing
    package on the GPU host, say) and go on."""
    wanted = ctx.option("engines", "")
    if wanted and name not in wanted.split(","):
        errors[name] = "not run (--set engines)"
        return None
    try:
        return build()
    except Exception as e:  # noqa: BLE001  (one engine failing must not lose the others' figures)
        traceback.print_exc()
        errors[name] = f"{type(e).__name__}: {e}"
        return None


def _agreement(a: Any, b: Any) -> float | None:
    """Fraction of equal codes (lists of per-scale arrays or one array), None when shapes differ."""
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    if len(a) != len(b) or any(np.shape(x) != np.shape(y) for x, y in zip(a, b)):
        return None
    total = sum(np.size(x) for x in a)
    return float(sum(int((np.asarray(x) == np.asarray(y)).sum()) for x, y in zip(a, b)) / max(total, 1))


def _finite_rms(out: Any) -> float | None:
    """RMS of a stage's audio output (nan when not finite; None for codes)."""
    x = to_numpy(out)
    if not np.issubdtype(x.dtype, np.floating):
        return None  # codes
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if np.isfinite(x).all() else float("nan")


def to_numpy(out: Any) -> np.ndarray:
    """An MLX array, a torch tensor or numpy -> numpy, floats as float32 (sanity checks only, never timed)."""
    if isinstance(out, (list, tuple)):
        out = out[0]
    if hasattr(out, "detach"):
        out = out.detach().cpu()
        return (out.float() if out.dtype.is_floating_point else out).numpy()
    if type(out).__module__.startswith("mlx"):
        import mlx.core as mx

        return np.array(out if mx.issubdtype(out.dtype, mx.integer) else out.astype(mx.float32))
    return np.asarray(out)


def measure(ctx: harness.Context, engines: list[Engine], stage_seconds: dict[str, float],
            errors: dict[str, str]) -> dict:
    """Time every stage on every engine (interleaved), peak memory per engine and stage, ratios, sanity.

    `stage_seconds[stage]` is the audio length one run of that stage covers: throughput = it / median time.
    An engine whose first run of a stage fails is left out of that stage (the error recorded).
    """
    stages: dict[str, dict] = {}
    for stage, audio_s in stage_seconds.items():
        runnable = {}
        for e in engines:
            if stage not in e.stages:
                continue
            try:
                first = e.stages[stage]()
                e.sync(first)
                runnable[e.name] = e
                e.notes.setdefault("output_rms", {})[stage] = _finite_rms(first)
            except Exception as err:  # noqa: BLE001
                traceback.print_exc()
                errors[f"{e.name}.{stage}"] = f"{type(err).__name__}: {err}"
        timed = harness.compare({n: (e.stages[stage], e.sync) for n, e in runnable.items()},
                                warmup=max(ctx.warmup - 1, 0), repeats=ctx.repeats)
        row: dict[str, Any] = {"audio_s": audio_s}
        for name, t in timed.items():
            e = runnable[name]
            row[name] = {**t, "audio_s_per_s": audio_s / t["median_s"], "rtf": t["median_s"] / audio_s}
            if ctx.option("memory", True):  # one more run, alone, for the peak
                row[name]["memory"] = harness.peak_memory(e.stages[stage], e.kind, ctx, e.weights_mb)
        for other in (TORCH, PEER):
            if LAB in timed and other in timed:
                row[f"speedup_vs_{other}"] = harness.ratio(timed[LAB], timed[other])
        if TORCH in runnable and ctx.option("flops", True):
            _compute_fraction(ctx, row, runnable[TORCH].stages[stage], errors, stage)
        stages[stage] = row
    sanity: dict[str, Any] = {e.name: dict(e.notes) for e in engines}
    ref = next((e for e in engines if e.name == TORCH and e.codes), None)
    for e in engines:
        if e.codes is not None and ref is not None and e is not ref:
            try:
                mine, theirs = e.codes(), ref.codes()
                sanity[e.name]["codes_equal_to_torch"] = _agreement(mine, theirs)
                # residual quantizers amplify rounding ties stage by stage: the first codebook shows the mapping
                sanity[e.name]["first_codebook_equal_to_torch"] = _agreement(
                    [np.asarray(mine[0])], [np.asarray(theirs[0])])
            except Exception as err:  # noqa: BLE001
                sanity[e.name]["codes_equal_to_torch"] = f"{type(err).__name__}: {err}"
    return {"stages": stages, "sanity": sanity, "errors": errors,
            "weights_mb": {e.name: e.weights_mb for e in engines}}


_ROOF: dict[str, dict] = {}


def _compute_fraction(ctx: harness.Context, row: dict, torch_stage: Callable[[], Any], errors: dict[str, str],
                      stage: str) -> None:
    """The stage's FLOPs (torch's FlopCounterMode on the reference: convolutions and matrix products; fused LSTMs
    not counted) and, per engine, the FLOP/s reached and its fraction of the measured matmul roof."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            torch_stage()
        flops = counter.get_total_flops()
        key = f"{ctx.torch_device}-{ctx.dtype}"
        if key not in _ROOF:
            _ROOF[key] = harness.measure_matmul_flops(ctx.torch_device, ctx.dtype)
        roof = _ROOF[key]
    except Exception as err:  # noqa: BLE001  (a derived figure: its absence must not lose the timings)
        errors[f"flops.{stage}"] = f"{type(err).__name__}: {err}"
        return
    row["flops"] = {"count": flops, "method": "torch.utils.flop_counter on the reference (conv + matmul)",
                    "roof_flops_per_s": roof["flops"], "roof_method": roof["method"]}
    for v in row.values():
        if isinstance(v, dict) and "median_s" in v:
            v["flops_per_s"] = flops / v["median_s"]
            v["fraction_of_roof"] = flops / v["median_s"] / roof["flops"]


def summary(stages: dict[str, dict], headline: tuple[str, ...]) -> dict:
    """Per engine, the README row: throughput and RTF of the `headline` stages run back to back (e.g. encode
    then decode), peak memory over all stages, speed against torch, and each stage's own throughput as a note."""
    engines = {n for name in headline for n, v in stages.get(name, {}).items()
               if isinstance(v, dict) and "median_s" in v}
    rows = {}
    for e in sorted(engines):
        if not all(e in stages.get(name, {}) for name in headline):
            continue
        total = sum(stages[name][e]["median_s"] for name in headline)
        audio_s = stages[headline[0]]["audio_s"]
        torch_total = (sum(stages[name][TORCH]["median_s"] for name in headline)
                       if all(TORCH in stages.get(name, {}) for name in headline) else None)
        peaks = [r[e]["memory"]["peak_mb"] for r in stages.values() if "memory" in r.get(e, {})]
        note = ", ".join(f"{name} {r[e]['audio_s_per_s']:.3g}" for name, r in stages.items() if e in r)
        rows[e] = harness.summary_row(audio_s_per_s=audio_s / total, rtf=total / audio_s,
                                      peak_mb=max(peaks) if peaks else None,
                                      vs_torch=None if torch_total is None else torch_total / total,
                                      note=f"{' + '.join(headline)}; audio s/s: {note}")
    return rows


def codec_payload(ctx: harness.Context, config_name: str, reference, engines: list[Engine], seconds: float,
                  stage_seconds: dict[str, float], errors: dict[str, str], extra: dict | None = None,
                  headline: tuple[str, ...] = ("encode", "decode"), family: str = "codec",
                  weights: str = "seeded random weights, real config") -> dict:
    """The JSON payload of one run: parameters checked against the published count, `measure`, the summary."""
    measured = measure(ctx, engines, stage_seconds, errors)
    return {"model": config_name, "family": family, "weights": weights,
            "summary": summary(measured["stages"], headline),
            **harness.check_params(config_name, harness.param_count(reference)),
            "input": {"audio_s": seconds, "seed": 0, "kind": "harness.synthetic_audio"},
            **(extra or {}), **measured}
