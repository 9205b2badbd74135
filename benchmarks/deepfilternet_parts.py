"""Where DeepFilterNet3's MLX time goes, part by part, next to onnxruntime in one process:
`python -m benchmarks.deepfilternet_parts [--seconds 10] [--repeats 5]`.

Each part is the time from one tap of the port to the next, with an `mx.eval` barrier at every tap (so the parts
sum to a little more than an unprofiled run), as wall time and as the process's CPU time. The parts are timed on
one stream (`model.side_stream` off: the branches it runs beside the GRUs would land in whichever tap waits
first; on one stream the C conv kernels also take the ERB encoder's convs, which stay MLX beside the second
stream); the two decoders' GRUs run together before either decoder's first tap, so both land in
`erb_dec.emb_gru.linear_in`, and the encoder's GRU part holds the DF pathway (`df_dec.convp` is computed before
it). The fast CPU paths (with and without the second stream) and the plain MLX path (`plain_math`) are timed
interleaved with onnxruntime's networks and full enhance, so the ratios hold on a shared machine; the load
average is printed beside them, minimum and median over the repeats. Prints only; writes nothing.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np


def _timed_taps(modules: list, store: dict[str, list[float]], clock=time.perf_counter) -> None:
    """Replace `tap` in the port's modules with one that evaluates its input and books the time since the last
    (by `clock`: wall time, or `time.process_time`, the CPU time of all the process's threads)."""
    import mlx.core as mx

    last = [clock()]

    def tap(name: str, x):
        mx.eval(x)
        now = clock()
        store[name].append(now - last[0])
        last[0] = now
        return x

    for m in modules:
        m.tap = tap
    store["_reset"] = last  # the caller restarts the clock before each run


def main() -> None:
    import mlx.core as mx

    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.layers.fast_math import plain_math
    from mlx_audio_lab.models.sts.deepfilternet import enhance as enh
    from mlx_audio_lab.models.sts.deepfilternet import load_model
    from mlx_audio_lab.models.sts.deepfilternet import model as mdl
    from mlx_audio_lab.models.sts.deepfilternet import reference as ref

    from .models.deepfilternet import noisy_inputs

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()

    folder = resolve("deepfilternet3")
    model = load_model(folder)
    c = model.config
    noisy, erb, cplx = noisy_inputs(c, a.seconds)
    sessions = ref.sessions(folder, extra=False)
    feats = (mx.array(erb[None, :, :, None], mx.float32), mx.array(cplx[None], mx.float32))

    def net() -> None:
        mx.eval(*model.net(*feats))

    totals: dict[str, list[float]] = defaultdict(list)
    engines = {
        "mlx fast: networks": net, "mlx fast: enhance": lambda: model.run(noisy),
        "onnxruntime: networks": lambda: ref.run_networks(sessions, erb, cplx),
        "onnxruntime: enhance": lambda: ref.enhance(folder, noisy, sessions),
    }
    plain = {"mlx plain: networks": net, "mlx plain: enhance": lambda: model.run(noisy)}
    one = {"mlx 1 stream: networks": net, "mlx 1 stream: enhance": lambda: model.run(noisy)}
    loads = []
    for r in range(a.repeats + 1):
        for name, fn in list(engines.items()) + list(one.items()) + list(plain.items()):
            ctx = plain_math() if name.startswith("mlx plain") else one_stream() if "1 stream" in name else _null()
            with ctx:
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
            if r:
                totals[name].append(dt)
        loads.append(open("/proc/loadavg").read().split()[0])
    print(f"{a.seconds:g} s of 48 kHz audio, {a.repeats} repeats; load average 1 min: {' '.join(loads)}")
    for label, stat in (("min", np.min), ("median", np.median)):
        got = {k: float(stat(v)) for k, v in totals.items()}
        print(f" {label}:")
        for k, v in got.items():
            print(f"  {k:24s} {v * 1e3:8.1f} ms")
        for stage in ("networks", "enhance"):
            o = got[f"onnxruntime: {stage}"]
            print(f"  {stage}: onnxruntime / mlx = {o / got[f'mlx fast: {stage}']:.2f}x fast, "
                  f"{o / got[f'mlx 1 stream: {stage}']:.2f}x fast on 1 stream, "
                  f"{o / got[f'mlx plain: {stage}']:.2f}x plain")

    # parts, between eval barriers at every tap; wall time, then CPU time (all threads; on a shared machine it
    # moves less with the load than wall time does)
    for label, ctx_fn in (("fast, 1 stream", one_stream), ("plain", plain_math)):
        parts = {}
        for clock in (time.perf_counter, time.process_time):
            store: dict = defaultdict(list)
            saved = (mdl.tap, enh.tap)
            _timed_taps([mdl, enh], store, clock)
            try:
                for r in range(a.repeats + 1):
                    with ctx_fn():
                        store["_reset"][0] = clock()
                        model.run(noisy)
                    if r == 0:
                        for k in [k for k in store if k != "_reset"]:
                            store[k].clear()
            finally:
                mdl.tap, enh.tap = saved
            parts[clock] = {k: float(np.median(v)) for k, v in store.items() if k != "_reset"}
        wall, cpu = parts[time.perf_counter], parts[time.process_time]
        total = sum(wall.values())
        print(f"\nparts, mlx {label} (ms since the previous tap, wall and CPU; sums {total * 1e3:.0f} and "
              f"{sum(cpu.values()) * 1e3:.0f} ms; load {open('/proc/loadavg').read().split()[0]})")
        for k, v in wall.items():
            print(f"  {k:28s} {v * 1e3:7.1f}  {100 * v / total:4.0f} %  {cpu[k] * 1e3:7.1f}")


class one_stream:
    """The fast paths without DeepFilterNet's second CPU stream."""

    def __enter__(self):
        from mlx_audio_lab.models.sts.deepfilternet import model as mdl

        self.saved, self.mdl = mdl.side_stream, mdl
        mdl.side_stream = lambda fast: None
        return self

    def __exit__(self, *exc):
        self.mdl.side_stream = self.saved
        return False


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
