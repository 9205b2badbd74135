"""Shared benchmark harness: timing, memory, machine description, results, and the benchmark registry.

API (everything a per-model module in `benchmarks/models/` needs):
    @register("name", "what it measures")          def run(ctx: Context) -> dict   (the payload for one dtype)
    ctx.device ("cpu"|"gpu"), ctx.dtype ("float32"|"bfloat16"|"float16"), ctx.repeats, ctx.warmup,
    ctx.torch_device ("cpu"|"cuda"), ctx.mx_dtype, ctx.torch_dtype, ctx.options (--set key=value, strings)
    time_region(fn, sync, warmup, repeats)          -> {"median_s","min_s","max_s","iqr_s","runs_s"}
    compare({"mlx_audio_lab": (fn, sync), "torch": (fn, sync, setup), "mlx_audio": ...}, warmup, repeats)
                                                     -> {engine: stats}, runs interleaved
                                                     (an optional untimed setup() result is passed to fn)
    stage(timings, amount, unit)                     adds throughput (amount / median) and speed vs torch
    mlx_sync(tree)  /  torch_sync(device)(output)    force evaluation inside a timed region
    peak_memory(fn, engine, ctx, weights_mb)         -> {"peak_mb", "above_weights_mb", ...} (engine "mlx"|"torch")
    weights_mb(module) / torch_state(torch_module)   parameter MiB; a state dict as numpy for the converters
    synthetic_audio(seconds, sample_rate, seed)      seeded noise + tones (speed does not depend on content)
    load_config(name) / param_count(module) / check_params(name, n)   real configs in benchmarks/configs/
    machine(ctx)                                     CPU, cores, RAM, load average, GPU, bandwidth, versions
    write_result(name, device, dtype, payload)      -> benchmarks/results/<name>-<device>.json (one entry per dtype)
Engines are named "mlx_audio_lab" (this port), "torch" (the reference) and "mlx_audio" (the same-framework peer).
The payload is free-form but carries `summary` (what report.py tabulates; build it with `summary_row`):
    {"summary": {engine: {"audio_s_per_s", "tokens_per_s", "rtf", "peak_mb", "vs_torch", "note"}}, ...}
Callables `fn` return their outputs; `sync(output)` must block until they are computed. Nothing here imports
torch or MLX at module import, so `--list` stays light.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
CONFIGS = ROOT / "configs"
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "gpu")
REGISTRY: dict[str, Benchmark] = {}

Sync = Callable[[Any], None]


# ---------------------------------------------------------------- registry and run context
@dataclass
class Benchmark:
    """One runnable model benchmark: its name, a line of description and the function that measures it."""

    name: str
    description: str
    run: Callable[[Context], dict]


def register(name: str, description: str) -> Callable[[Callable[[Context], dict]], Callable[[Context], dict]]:
    """Decorator adding a `run(ctx) -> payload` function to the registry under `name`."""

    def wrap(fn: Callable[[Context], dict]) -> Callable[[Context], dict]:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, description, fn)
        return fn

    return wrap


@dataclass
class Context:
    """What a benchmark is asked to do: device, dtype, repeats, and free-form options."""

    device: str = "cpu"
    dtype: str = "float32"
    repeats: int = 5
    warmup: int = 1
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")

    @property
    def torch_device(self) -> str:
        return "cuda" if self.device == "gpu" else "cpu"

    @property
    def mx_dtype(self):
        import mlx.core as mx

        return getattr(mx, self.dtype)

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def option(self, key: str, default: Any) -> Any:
        """An option from `--set key=value`, converted to the type of `default`."""
        if key not in self.options:
            return default
        raw = self.options[key]
        return type(default)(raw) if not isinstance(default, bool) else raw.lower() in ("1", "true", "yes")


def select_device(device: str) -> None:
    """Point MLX at the device once, before any model is built (torch gets the device per tensor)."""
    import mlx.core as mx

    if device == "gpu":
        if not mx.is_available(mx.gpu):
            raise RuntimeError("--device gpu asked for, but MLX has no GPU back end here")
        mx.set_default_device(mx.gpu)
        try:  # float32 means float32 on both sides: torch's cuDNN convs default to TF32 (MLX's are off, see
            import torch  # mlx_audio_lab/__init__.py); before this, torch's fp32 conv rows ran on TF32 tensor cores

            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        except ImportError:
            pass
    else:
        mx.set_default_device(mx.cpu)


# ---------------------------------------------------------------- timing
def mlx_sync(tree: Any) -> None:
    """Evaluate every MLX array in a (nested) output."""
    import mlx.core as mx

    mx.eval(tree)


def torch_sync(device: str) -> Sync:
    """A sync for torch outputs: waits for CUDA work on a GPU; CPU ops are already done when they return."""
    if device.startswith("cuda"):
        import torch

        return lambda _out: torch.cuda.synchronize()
    return lambda _out: None


def _stats(runs: list[float]) -> dict:
    q = statistics.quantiles(runs, n=4) if len(runs) >= 2 else [runs[0]] * 3
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs),
            "iqr_s": q[2] - q[0], "runs_s": runs}


def _once(fn: Callable[..., Any], sync: Sync, setup: Callable[[], Any] | None = None) -> float:
    """Seconds of one `sync(fn())`; with `setup`, `fn(setup())` where setup's own time is not counted."""
    args = () if setup is None else (setup(),)
    t0 = time.perf_counter()
    sync(fn(*args))
    return time.perf_counter() - t0


def time_region(fn: Callable[..., Any], sync: Sync, warmup: int = 1, repeats: int = 5,
                setup: Callable[[], Any] | None = None) -> dict:
    """Median, min, max and inter-quartile range of `repeats` timed runs of `sync(fn())` after `warmup` runs."""
    for _ in range(warmup):
        _once(fn, sync, setup)
    return _stats([_once(fn, sync, setup) for _ in range(repeats)])


Engine = tuple  # (fn, sync) or (fn, sync, setup): setup() runs untimed and its result is fn's argument


def compare(engines: dict[str, Engine], warmup: int = 1, repeats: int = 5) -> dict:
    """Time several engines on the same work with their runs interleaved (A, B, A, B, ...): fair on a noisy host."""
    for spec in engines.values():
        for _ in range(warmup):
            _once(*spec)
    runs: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, spec in engines.items():
            runs[name].append(_once(*spec))
    return {name: _stats(r) for name, r in runs.items()}


def ratio(a: dict, b: dict) -> float:
    """How many times faster `a` is than `b` (median time of b / median time of a)."""
    return b["median_s"] / a["median_s"]


def stage(timings: dict[str, dict], amount: float, unit: str, baseline: str = "torch") -> dict:
    """Per engine: the timing stats, `unit` = amount / median time, and `vs_<baseline>` (times faster than it)."""
    out = {}
    for name, st in timings.items():
        out[name] = {**st, unit: amount / st["median_s"]}
        if baseline in timings:
            out[name][f"vs_{baseline}"] = ratio(st, timings[baseline])
    return out


def summary_row(audio_s_per_s: float | None = None, tokens_per_s: float | None = None, rtf: float | None = None,
                peak_mb: float | None = None, vs_torch: float | None = None, note: str = "") -> dict:
    """One engine's headline figures for the README table (None where a figure does not apply)."""
    return {"audio_s_per_s": audio_s_per_s, "tokens_per_s": tokens_per_s, "rtf": rtf, "peak_mb": peak_mb,
            "vs_torch": vs_torch, "note": note}


# ---------------------------------------------------------------- memory
def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc malloc_trim) so RSS growth shows the run's own peak."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _sampled_rss_growth(fn: Callable[[], Any], sync: Sync, every_s: float = 0.002) -> float:
    import gc

    gc.collect()
    _release_freed_memory()
    base = _rss_mb()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(every_s)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        sync(fn())
    finally:
        done.set()
        t.join()
    return max(peak[0], _rss_mb()) - base


def peak_memory(fn: Callable[[], Any], engine: str, ctx: Context, weights_mb: float) -> dict:
    """Peak memory of one run of `fn` = its own weights + the peak growth above what was live before the run.

    Growth: MLX allocator peak minus active memory (other engines' arrays stay out), torch CUDA max allocated
    minus allocated, or on a CPU the process RSS sampled every 2 ms minus RSS before.
    """
    if engine == "mlx":
        import mlx.core as mx

        mx.clear_cache()
        before = mx.get_active_memory()
        mx.reset_peak_memory()
        mlx_sync(fn())
        growth, method = (mx.get_peak_memory() - before) / 2**20, "mx.get_peak_memory - active before"
    elif ctx.torch_device == "cuda":
        import torch

        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        growth = (torch.cuda.max_memory_allocated() - before) / 2**20
        method = "torch.cuda.max_memory_allocated - allocated before"
    else:
        growth, method = _sampled_rss_growth(fn, lambda _o: None), "process VmRSS sampled every 2 ms - RSS before"
    return {"peak_mb": weights_mb + growth, "weights_mb": weights_mb, "above_weights_mb": growth,
            "method": method + " (+ own weights)"}


def weights_mb(module) -> float:
    """Bytes of a torch or MLX module's parameters, in MiB."""
    if hasattr(module, "named_parameters"):
        return sum(p.numel() * p.element_size() for p in module.parameters()) / 2**20
    from mlx.utils import tree_flatten

    return sum(v.nbytes for _, v in tree_flatten(module.parameters())) / 2**20


def torch_state(module) -> dict:
    """A torch module's state dict as float32 / integer numpy arrays (what the converters read)."""
    out = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu()
        out[k] = (v.float() if v.dtype.is_floating_point else v).numpy()
    return out


# ---------------------------------------------------------------- inputs, configs, parameters
def synthetic_audio(seconds: float, sample_rate: int = 16000, seed: int = 0):
    """Seeded float32 audio in [-1, 1]: a few tones under noise (content does not change speed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tones = sum(0.1 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 2000, size=4))
    return np.clip(tones + 0.05 * rng.standard_normal(t.shape), -1, 1).astype(np.float32)


def load_config(name: str, raw: bool = False) -> dict:
    """The real upstream config.json stored as benchmarks/configs/<name>.json (our `_notes` keys dropped)."""
    path = CONFIGS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}; known: {sorted(p.stem for p in CONFIGS.glob('*.json'))}")
    doc = json.loads(path.read_text())
    return doc if raw else {k: v for k, v in doc.items() if not k.startswith("_")}


def check_params(name: str, counted: int) -> dict:
    """The parameter count built from a config next to the published one (`_expected_params` in the config file)."""
    path = CONFIGS / f"{name}.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    expected, tol = doc.get("_expected_params"), doc.get("_params_tolerance", 0.01)
    return {"params": counted, "expected_params": expected,
            "params_match": None if expected is None else abs(counted - expected) <= tol * expected}


def param_count(module) -> int:
    """Number of parameters of a torch module (or an MLX module)."""
    if hasattr(module, "parameters") and callable(module.parameters) and hasattr(module, "named_parameters"):
        return sum(p.numel() for p in module.parameters())
    from mlx.utils import tree_flatten

    return sum(v.size for _, v in tree_flatten(module.parameters()))


def dtype_bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def bandwidth_fraction(bytes_per_step: float, step_s: float, bandwidth_gbs: float) -> float:
    """Fraction of the memory-bandwidth bound reached: (bytes / bandwidth) / measured step time."""
    return (bytes_per_step / (bandwidth_gbs * 1e9)) / step_s


# ---------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return float("nan")


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


def measure_bandwidth(torch_device: str, mbytes: int = 512, repeats: int = 5) -> dict:
    """Memory bandwidth from a large torch copy (bytes read + written per second, best of `repeats`)."""
    import torch

    n = mbytes * 2**20 // 4
    src = torch.ones(n, dtype=torch.float32, device=torch_device)
    dst = torch.empty_like(src)
    sync = torch_sync(torch_device)
    best = min(_once(lambda: dst.copy_(src), sync) for _ in range(repeats + 1))
    return {"bandwidth_gbs": 2 * n * 4 / best / 1e9,
            "method": f"torch copy_ of {mbytes} MiB float32 on {torch_device}, read+write bytes, best of {repeats}"}


def measure_matmul_flops(torch_device: str, dtype: str, n: int = 2048, repeats: int = 5) -> dict:
    """Achievable matmul FLOP/s (torch n x n @ n x n, best of `repeats`): the compute roof used for encoders."""
    import torch

    a = torch.randn(n, n, device=torch_device).to(getattr(torch, dtype))
    sync = torch_sync(torch_device)
    best = min(_once(lambda: a @ a, sync) for _ in range(repeats + 1))
    return {"flops": 2 * n**3 / best, "method": f"torch {n}x{n} {dtype} matmul on {torch_device}, best of {repeats}"}


def machine(ctx: Context, load_start: tuple[float, ...] | None = None) -> dict:
    """Describe the host: CPU, cores, RAM, load average, GPU, bandwidth, library versions and the MLX BLAS."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gb": round(_ram_gb(), 1),
        "python": platform.python_version(),
        "load_average_start": list(load_start) if load_start else None, "load_average_end": list(os.getloadavg()),
        "versions": {m: _version(m) for m in ("mlx", "mlx-cuda", "mlx-metal", "torch", "transformers", "mlx-audio",
                                               "mlx-lm", "numpy")},
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if ctx.torch_device == "cuda":
            info["gpu"] = torch.cuda.get_device_name(0)
            info["tf32"] = {"MLX_ENABLE_TF32": os.environ.get("MLX_ENABLE_TF32"),
                            "torch_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                            "torch_cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
            info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1)
        info.update(measure_bandwidth(ctx.torch_device))
    except Exception as e:  # noqa: BLE001  (a description, not a measurement: say what failed)
        info["bandwidth_error"] = repr(e)
    if ctx.device == "cpu":
        from mlx_audio_lab import _blas

        info["mlx_blas"] = _blas.status()
        info["openblas_core"] = _blas.corename()  # "Prescott": SSE3 fallback kernels (see _blas.core_type)
    return info


# ---------------------------------------------------------------- results
def result_path(name: str, device: str) -> Path:
    return RESULTS / f"{name}-{device}.json"


def write_result(name: str, device: str, dtype: str, payload: dict) -> Path:
    """Store one dtype's payload in benchmarks/results/<name>-<device>.json, keeping the other dtypes' entries."""
    path = result_path(name, device)
    doc = json.loads(path.read_text()) if path.is_file() else {}
    if doc.get("schema") != "bench/1":
        doc = {"schema": "bench/1", "model": name, "device": device, "dtypes": {}}
    doc["dtypes"][dtype] = payload
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=_jsonable) + "\n")
    return path


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
