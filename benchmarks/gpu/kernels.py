"""GPU: each CUDA kernel of `mlx_audio_lab/layers/gpu/` against the plain MLX ops it replaces and the same torch
module on CUDA, at the real models' shapes: `python3 -m benchmarks.gpu.kernels [--json FILE]` (device only)."""

from __future__ import annotations

import argparse
import json
import os
import time

import mlx.core as mx
import numpy as np
import torch

from mlx_audio_lab.layers import gpu
from mlx_audio_lab.layers.antialias import Activation1d
from mlx_audio_lab.layers.lstm import LSTM
from mlx_audio_lab.layers.snake import SnakeBeta


def _best(fn, sync, repeats: int = 5) -> float:
    """Min wall ms over `repeats` after two warm-ups, the device synchronised around each run."""
    for _ in range(2):
        sync(fn())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sync(fn())
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best


def _mx_sync(out) -> None:
    mx.eval(out)
    mx.synchronize()


def _torch_sync(_out) -> None:
    torch.cuda.synchronize()


def _plain(fn):
    os.environ[gpu.GPU_KERNELS_ENV] = "0"
    try:
        return fn()
    finally:
        del os.environ[gpu.GPU_KERNELS_ENV]


def _measure(port, ref, xm: mx.array, xt: torch.Tensor, to_numpy) -> dict:
    """Kernel, plain-op and torch ms for one module pair, and the port's max-abs error against torch."""
    with torch.inference_mode():
        want = to_numpy(ref(xt))
        t_ms = _best(lambda: ref(xt), _torch_sync)
    got = np.array(port(xm).astype(mx.float32))
    k_ms = _best(lambda: port(xm), _mx_sync)
    p_ms = _plain(lambda: _best(lambda: port(xm), _mx_sync, 2))
    return {"kernel_ms": k_ms, "plain_ms": p_ms, "torch_ms": t_ms, "max_abs_vs_torch": float(np.abs(got - want).max())}


def lstm_rows(dtype: str) -> list[dict]:
    """EnCodec's 2-layer 512 LSTM over 10 s (750 frames) and Kokoro's 256-unit BiLSTM over 600 frames."""
    rows = []
    mdt, tdt = getattr(mx, dtype), getattr(torch, dtype)
    for name, d_in, hidden, layers, bi, T in (("encodec lstm", 512, 512, 2, False, 750),
                                               ("kokoro bilstm", 640, 256, 1, True, 600)):
        torch.manual_seed(0)
        ref = torch.nn.LSTM(d_in, hidden, layers, batch_first=True, bidirectional=bi).cuda().to(tdt).eval()
        port = LSTM(d_in, hidden, layers, bidirectional=bi)
        port.update({k: mx.array(v.detach().float().cpu().numpy()) for k, v in ref.state_dict().items()})
        port.set_dtype(mdt)
        x = np.random.default_rng(0).standard_normal((1, T, d_in)).astype(np.float32)
        xm, xt = mx.array(x).astype(mdt), torch.from_numpy(x).cuda().to(tdt)
        rows.append({"op": name, "dtype": dtype, "shape": [1, T, d_in],
                     **_measure(port, ref, xm, xt, lambda y: y[0].float().cpu().numpy())})
    return rows


def antialias_rows(dtype: str) -> list[dict]:
    """BigVGAN's anti-aliased SnakeBeta at its 24 kHz model's stage shapes for 10 s of audio."""
    from bigvgan.activations import SnakeBeta as TorchSnakeBeta
    from bigvgan.alias_free_activation.torch.act import Activation1d as TorchActivation1d

    rows = []
    mdt, tdt = getattr(mx, dtype), getattr(torch, dtype)
    for T, C in ((3750, 768), (60000, 96), (240000, 24)):
        torch.manual_seed(0)
        ref = TorchActivation1d(TorchSnakeBeta(C, alpha_logscale=True)).cuda().to(tdt).eval()
        with torch.no_grad():
            ref.act.alpha.normal_(0, 0.3)
            ref.act.beta.normal_(0, 0.3)
        port = Activation1d(SnakeBeta(C, logscale=True))
        port.act.alpha = mx.array(ref.act.alpha.detach().float().cpu().numpy())
        port.act.beta = mx.array(ref.act.beta.detach().float().cpu().numpy())
        x = np.random.default_rng(0).standard_normal((1, T, C)).astype(np.float32)
        xm, xt = mx.array(x).astype(mdt), torch.from_numpy(x).cuda().to(tdt).transpose(1, 2)
        rows.append({"op": "antialiased snakebeta", "dtype": dtype, "shape": [1, T, C],
                     **_measure(port, ref, xm, xt, lambda y: y.transpose(1, 2).float().cpu().numpy())})
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--json")
    a = p.parse_args()
    mx.set_default_device(mx.gpu)
    rows = []
    for dtype in ("float32", "bfloat16"):
        for fn in (lstm_rows, antialias_rows):
            try:
                new = fn(dtype)
            except Exception as e:  # noqa: BLE001 - report and go on to the next kernel
                new = [{"op": fn.__name__, "dtype": dtype, "error": f"{type(e).__name__}: {e}"[:400]}]
            for r in new:
                print(json.dumps(r), flush=True)
            rows += new
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
