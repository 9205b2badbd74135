"""GPU: variants of the persistent LSTM kernel (blocks, warps, barrier back-off) timed on one 512-unit layer of
750 steps against the stepped ops and torch: `python3 -m benchmarks.gpu.lstm_probe` (device only)."""

from __future__ import annotations

import json
import os
import time

import mlx.core as mx
import numpy as np
import torch

from mlx_audio_lab.layers import gpu
from mlx_audio_lab.layers.gpu import lstm as kernel
from mlx_audio_lab.layers.lstm import LSTM


def _best(fn, repeats: int = 5) -> float:
    for _ in range(2):
        mx.eval(fn())
    mx.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        mx.eval(fn())
        mx.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best


def main() -> None:
    mx.set_default_device(mx.gpu)
    T, H = 750, 512
    torch.manual_seed(0)
    ref = torch.nn.LSTM(H, H, 1, batch_first=True).cuda().eval()
    port = LSTM(H, H, 1)
    port.update({k: mx.array(v.detach().float().cpu().numpy()) for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, T, H)).astype(np.float32)
    xm, xt = mx.array(x), torch.from_numpy(x).cuda()
    with torch.inference_mode():
        want = ref(xt)[0].cpu().numpy()
        for _ in range(3):
            ref(xt)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        ref(xt)
        torch.cuda.synchronize()
        print(json.dumps({"variant": "torch", "ms": 1e3 * (time.perf_counter() - t0)}), flush=True)
    os.environ[gpu.GPU_KERNELS_ENV] = "0"
    print(json.dumps({"variant": "plain ops", "ms": _best(lambda: port(xm), 2)}), flush=True)
    del os.environ[gpu.GPU_KERNELS_ENV]
    layout = kernel._layout
    for name, blocks, barrier, wait, compute, regs in (
            ("64 blocks, W_hh in registers, no barrier (wrong; lower bound)", 64, 0, "", True, True),
            ("64 blocks, registers, barrier 1 (atomicAdd + volatile poll)", 64, 1, "", True, True),
            ("64 blocks, registers, barrier 2 (atomicAdd poll)", 64, 2, "", True, True),
            ("64 blocks, registers, barrier 3 (red.release + ld.acquire)", 64, 3, "", True, True),
            ("64 blocks, registers, barrier 3, nanosleep 20", 64, 3, "__nanosleep(20);", True, True),
            ("64 blocks, barrier 1 only (no compute)", 64, 1, "", False, True),
            ("64 blocks, barrier 3 only (no compute)", 64, 3, "", False, True),
            ("16 blocks, barrier 3 only (no compute)", 16, 3, "", False, True),
            ("64 blocks, W_hh read per step, barrier 3", 64, 3, "", True, False),
            ("32 blocks, registers, barrier 3", 32, 3, "", True, True)):
        kernel.MAX_BLOCKS, kernel.BARRIER, kernel.SPIN_WAIT, kernel.COMPUTE = blocks, barrier, wait, compute
        kernel._layout = layout if regs else (lambda h, u: (8, -(-4 * u // 8), False))
        try:
            got = np.array(port(xm))
            ms = _best(lambda: port(xm))
            row = {"variant": name, "ms": ms, "us_per_step": 1e3 * ms / T,
                   "max_abs_vs_torch": float(np.abs(got - want).max())}
        except Exception as e:  # noqa: BLE001
            row = {"variant": name, "error": str(e)[:600]}
        print(json.dumps(row), flush=True)
    kernel.MAX_BLOCKS, kernel.BARRIER, kernel.SPIN_WAIT, kernel.COMPUTE, kernel._layout = 64, 3, "", True, layout


if __name__ == "__main__":
    main()
