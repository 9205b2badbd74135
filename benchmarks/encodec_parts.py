"""Where EnCodec 24 kHz's CPU time goes, part by part, next to transformers' reference in one process:
`python -m benchmarks.encodec_parts [--seconds 10] [--repeats 5] [--plain]`.

The same real-size seeded models as `benchmarks/models/encodec.py`. Each part is one top-level layer of the
encoder / decoder (an ELU and the conv after it together: the run fuses them), or the quantizer, fed the input it
gets in a whole run, timed alone (the encoder's parts and the quantizer's search on the OpenBLAS thread count
encode uses; MLX between `mx.eval` barriers), the MLX port and the reference interleaved part
by part and repeat by repeat; the minimum of the repeats is kept, and the load average printed beside it.
`--plain` adds the plain MLX path (`plain_math`), `--loop` the fast path with the LSTM on its numpy loop instead
of the C kernel (the state before the kernel).
Prints only; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

import numpy as np


def _best(fn: Callable[[], object], store: list[float]) -> None:
    t0 = time.perf_counter()
    fn()
    store.append(time.perf_counter() - t0)


@contextmanager
def _encode_blas():
    """MLX's OpenBLAS on the thread count `Encodec.encode` runs its matmuls on (`BLAS_THREADS` on the fast path),
    for the encoder's parts and the quantizer's search, timed as the whole encode runs them."""
    from mlx_audio_lab.layers.cpu.blas_threads import mlx_blas_threads
    from mlx_audio_lab.layers.fast_math import fast_math_active
    from mlx_audio_lab.models.codecs.encodec import model as encodec_model

    with mlx_blas_threads(encodec_model.BLAS_THREADS, fast_math_active()):
        yield


def _parts(model, reference, audio: np.ndarray, bandwidth: float) -> dict[str, dict[str, Callable]]:
    """{part: {engine: call}}: each layer of both stacks on its captured input, then the quantizer."""
    import mlx.core as mx
    import mlx.nn as nn
    import torch

    from mlx_audio_lab.layers.conv import StreamableConv1d

    parts: dict[str, dict[str, Callable]] = {}
    n_q = model.num_codebooks(bandwidth)
    for stack in ("encoder", "decoder"):
        mine, theirs = getattr(model, stack).layers, getattr(reference, stack).layers
        if stack == "encoder":
            x = mx.array(audio)[None, :, None]
        else:
            codes = model.quantizer.encode(model.encoder(mx.array(audio)[None, :, None]), n_q)
            x = model.quantizer.decode(codes)
        mx.eval(x)
        xt = torch.from_numpy(np.array(x).transpose(0, 2, 1).copy())
        i = 0
        while i < len(mine):
            m, t = mine[i], theirs[i]
            name = f"{stack}.layers.{i} {type(m).__name__}"
            if isinstance(m, nn.ELU) and i + 1 < len(mine) and isinstance(mine[i + 1], StreamableConv1d):
                # timed as the whole run computes them: the ELU fused into the conv's padding pass (`after_elu`)
                m, t = mine[i + 1].after_elu, torch.nn.Sequential(t, theirs[i + 1])
                i += 1
                name = f"{stack}.layers.{i - 1}+{i} ELU+{type(mine[i]).__name__}"

            def run_mlx(m=m, x=x, blas=_encode_blas if stack == "encoder" else nullcontext):
                with blas():
                    mx.eval(m(x))

            def run_torch(t=t, xt=xt):
                with torch.inference_mode():
                    t(xt)

            parts[name] = {"mlx": run_mlx, "torch": run_torch}
            x = m(x)
            mx.eval(x)
            with torch.inference_mode():
                xt = t(xt)
            i += 1
        if stack == "encoder":
            latents, latents_t = x, xt

            def q_mlx(latents=latents):
                with _encode_blas():
                    mx.eval(model.quantizer.encode(latents, n_q))

            def q_torch(latents_t=latents_t):
                with torch.inference_mode():
                    reference.quantizer.encode(latents_t, bandwidth)

            parts["quantizer.encode"] = {"mlx": q_mlx, "torch": q_torch}
            codes = model.quantizer.encode(latents, n_q)
            codes_t = torch.from_numpy(np.array(codes).astype(np.int64))

            def d_mlx(codes=codes):
                mx.eval(model.quantizer.decode(codes))

            def d_torch(codes_t=codes_t):
                with torch.inference_mode():
                    reference.quantizer.decode(codes_t)

            parts["quantizer.decode"] = {"mlx": d_mlx, "torch": d_torch}
    return parts


def main() -> None:
    import mlx.core as mx
    import torch
    from transformers import EncodecConfig, EncodecModel

    from mlx_audio_lab.layers.fast_math import plain_math
    from mlx_audio_lab.models.codecs.encodec.load import load_model

    from . import harness
    from .models.codec_common import hf_reference

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--bandwidth", type=float, default=6.0)
    p.add_argument("--plain", action="store_true", help="also time the plain MLX path")
    p.add_argument("--loop", action="store_true", help="also time the LSTM on its numpy loop (no C kernel)")
    p.add_argument("--whole-only", action="store_true", help="only the whole encode / decode")
    a = p.parse_args()

    cfg = harness.load_config("encodec_24khz")
    audio = harness.synthetic_audio(a.seconds, cfg["sampling_rate"], seed=0)
    reference, folder = hf_reference(EncodecModel, EncodecConfig, cfg, "encodec_24khz")
    model = load_model(folder)
    x, xt = mx.array(audio)[None, :, None], torch.from_numpy(audio)[None, None]
    codes = model.encode_batch(x, a.bandwidth)
    with torch.inference_mode():
        enc = reference.encode(xt, bandwidth=a.bandwidth)
    same = np.array_equal(np.array(codes[:, 0]), enc.audio_codes[0, 0].numpy())

    def t_encode():
        with torch.inference_mode():
            reference.encode(xt, bandwidth=a.bandwidth)

    def t_decode():
        with torch.inference_mode():
            reference.decode(enc.audio_codes, enc.audio_scales)

    whole = {"encode": {"mlx": lambda: mx.eval(model.encode_batch(x, a.bandwidth)), "torch": t_encode},
             "decode": {"mlx": lambda: mx.eval(model.decode_batch(codes)), "torch": t_decode}}
    parts = {} if a.whole_only else _parts(model, reference, audio, a.bandwidth)
    engines = ["mlx", "torch"] + (["plain"] if a.plain else []) + (["loop"] if a.loop else [])
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    loads = []
    for r in range(a.repeats + 1):
        for part, fns in {**whole, **parts}.items():
            for e in engines:
                fn = fns["mlx" if e in ("plain", "loop") else e]
                with plain_math() if e == "plain" else _no_kernel() if e == "loop" else nullcontext():
                    _best(fn, times[part, e])
                if r == 0:
                    times[part, e].clear()
        loads.append(f"{os.getloadavg()[0]:.1f}")
    print(f"EnCodec 24 kHz, {a.seconds:g} s, {a.bandwidth:g} kbps, min of {a.repeats}; codes identical: {same}; "
          f"torch threads {torch.get_num_threads()}; load average per repeat: {' '.join(loads)}")
    extra = [e for e in engines if e not in ("mlx", "torch")]
    print(f"{'part':<44} {'mlx ms':>8} {'torch ms':>9} {'torch/mlx':>9}" + "".join(f" {e + ' ms':>9}" for e in extra))
    for part in {**whole, **parts}:
        m, t = min(times[part, "mlx"]), min(times[part, "torch"])
        print(f"{part:<44} {m * 1e3:8.1f} {t * 1e3:9.1f} {t / m:8.2f}x"
              + "".join(f" {min(times[part, e]) * 1e3:9.1f}" for e in extra))


@contextmanager
def _no_kernel():
    """The LSTM on its numpy loop (`recurrence.native_threads` says 0) within the block."""
    from mlx_audio_lab.layers.cpu import recurrence

    saved = recurrence.native_threads
    recurrence.native_threads = lambda w_hh: 0
    try:
        yield
    finally:
        recurrence.native_threads = saved


if __name__ == "__main__":
    main()
