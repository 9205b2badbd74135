"""Run one model's benchmark: `python -m benchmarks.run --model NAME --device cpu|gpu --dtype float32 --repeats 5`.

`--list` shows the registered benchmarks (every module in benchmarks/models/ registers its own). Several dtypes
(`--dtype float32,bfloat16`) run one after the other in the same process; each lands in
benchmarks/results/<name>-<device>.json with the machine described.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
import traceback

from . import harness, models


def discover() -> dict[str, harness.Benchmark]:
    """Import every module of benchmarks/models so their `@register` lines run."""
    for info in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"{models.__name__}.{info.name}")
    return harness.REGISTRY


def run_one(bench: harness.Benchmark, ctx: harness.Context) -> dict:
    """Run a benchmark under a context and wrap its payload with the settings and the machine."""
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    payload = bench.run(ctx)
    return {"settings": {"device": ctx.device, "dtype": ctx.dtype, "repeats": ctx.repeats, "warmup": ctx.warmup,
                         "options": ctx.options},
            "wall_s": time.perf_counter() - t0, **payload, "machine": harness.machine(ctx, load_start)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="benchmark name (repeatable); see --list")
    p.add_argument("--device", choices=harness.DEVICES, default="cpu")
    p.add_argument("--dtype", default="float32", help="comma-separated: float32,bfloat16,float16")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a benchmark option")
    p.add_argument("--list", action="store_true")
    p.add_argument("--no-write", action="store_true", help="print the JSON, store nothing")
    a = p.parse_args(argv)
    registry = discover()
    if a.list or not a.model:
        for name, b in sorted(registry.items()):
            print(f"{name:<28} {b.description}")
        return 0 if a.list else 2
    unknown = [m for m in a.model if m not in registry]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {sorted(registry)}")
    options = {}
    for kv in a.set:
        if "=" not in kv:
            p.error(f"--set wants KEY=VALUE, got {kv!r}")
        key, value = kv.split("=", 1)
        options[key] = value
    harness.select_device(a.device)
    failed = 0
    for name in a.model:
        for dtype in a.dtype.split(","):
            ctx = harness.Context(device=a.device, dtype=dtype.strip(), repeats=a.repeats, warmup=a.warmup,
                                  options=options)
            print(f"== {name} {a.device} {ctx.dtype}", file=sys.stderr, flush=True)
            try:
                result = run_one(registry[name], ctx)
            except Exception:  # noqa: BLE001  (one model failing must not lose the others' results)
                traceback.print_exc()
                failed += 1
                continue
            if a.no_write:
                print(json.dumps(result, indent=1, default=harness._jsonable))
            else:
                print(f"wrote {harness.write_result(name, a.device, ctx.dtype, result)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
