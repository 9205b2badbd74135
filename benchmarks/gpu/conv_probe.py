"""GPU: the codecs' convolutions at their real shapes (10 s of audio), each computed several ways in MLX and by
torch on CUDA, to choose per shape: `python3 -m benchmarks.gpu.conv_probe [--json FILE] [--scale S] [--cpu]`.

MLX ways: `mx.conv1d` / `mx.conv_transpose1d` (cuDNN through MLX); `taps`: one product per tap accumulated with
`mx.addmm` (cuBLAS, no copy of the input); `im2col`: the k shifted views side by side, one product; transposed
convs as one product (C_in -> k * C_out) and an overlap-add of the k / stride shifted slabs. Each way's result is
checked against `mx.conv1d` in float32 (`max_rel`). `--scale 0.01 --cpu` runs it small on the CPU (a test of
the script, not a measurement)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import mlx.core as mx
import numpy as np

import mlx_audio_lab  # noqa: F401 - sets MLX_ENABLE_TF32=0 before the first GPU op: float32 is float32 on both sides
from mlx_audio_lab.layers.long_conv import chunked_conv1d

from .kernels import _best, _mx_sync

# (model, C_in, C_out, frames, k, dilation): the decoders' dense convs (DAC 44 kHz, BigVGAN 24 kHz, SNAC 24 kHz)
DENSE = [("dac", 1024, 1536, 862, 7, 1), ("dac", 768, 768, 6896, 7, 1), ("dac", 384, 384, 55168, 7, 3),
         ("dac", 192, 192, 220672, 7, 9), ("dac", 96, 96, 441344, 7, 1), ("dac", 96, 96, 441344, 1, 1),
         ("dac", 384, 384, 55168, 1, 1),
         ("bigvgan", 768, 768, 3750, 3, 1), ("bigvgan", 384, 384, 15000, 7, 3), ("bigvgan", 192, 192, 30000, 11, 5),
         ("bigvgan", 96, 96, 60000, 3, 1), ("bigvgan", 48, 48, 120000, 7, 3), ("bigvgan", 24, 24, 240000, 11, 5),
         ("snac", 512, 512, 3750, 1, 1), ("snac", 128, 128, 120000, 1, 1), ("snac", 64, 64, 240000, 1, 1)]
# (model, C_in, C_out, frames in, k, stride)
TRANSPOSED = [("dac", 1536, 768, 862, 16, 8), ("dac", 384, 192, 55168, 8, 4), ("dac", 192, 96, 220672, 4, 2),
              ("bigvgan", 1536, 768, 937, 8, 4), ("bigvgan", 48, 24, 120000, 4, 2),
              ("snac", 1024, 512, 469, 16, 8), ("snac", 128, 64, 120000, 4, 2)]


def _time_ways(ways: dict[str, Callable], want: np.ndarray, repeats: int, row: dict) -> None:
    """Each MLX way's error against `want` (max abs / max |want|) and its best ms, into `row`; a failure is noted."""
    for name, fn in ways.items():
        try:
            got = np.array(fn().astype(mx.float32))
            row[f"{name}_max_rel"] = float(np.abs(got - want).max() / np.abs(want).max())
            row[f"{name}_ms"] = _best(fn, _mx_sync, repeats)
        except Exception as e:  # noqa: BLE001 - report the way that failed and go on
            row[f"{name}_error"] = f"{type(e).__name__}: {e}"[:200]


def taps_conv(x: mx.array, w_taps: mx.array, padding: int, dilation: int) -> mx.array:
    """x (1, T, C) through w_taps (k, C, O): sum_j x[j d : j d + L] @ w_j, accumulated in place by cuBLAS."""
    xp = mx.pad(x[0], [(padding, padding), (0, 0)])
    k = w_taps.shape[0]
    length = xp.shape[0] - dilation * (k - 1)
    y = xp[:length] @ w_taps[0]
    for j in range(1, k):
        y = mx.addmm(y, xp[j * dilation : j * dilation + length], w_taps[j])
    return y[None]


def im2col_conv(x: mx.array, w_cols: mx.array, k: int, padding: int, dilation: int) -> mx.array:
    """The k shifted views side by side (1, L, k C) times w_cols (k C, O)."""
    xp = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    length = xp.shape[1] - dilation * (k - 1)
    cols = mx.concatenate([xp[:, j * dilation : j * dilation + length] for j in range(k)], axis=-1)
    return cols @ w_cols


def matmul_transposed(x: mx.array, w_mat: mx.array, k: int, stride: int, padding: int, out_len: int) -> mx.array:
    """A transposed conv with k = m * stride: x (1, T, C) @ w_mat (C, k O) -> (T, m, s, O) slabs, slab i shifted i
    frames and summed (overlap-add), then the padding cropped."""
    T = x.shape[1]
    m, O = k // stride, w_mat.shape[1] // k
    y = (x[0] @ w_mat).reshape(T, m, stride, O)
    out = mx.pad(y[:, 0], [(0, m - 1), (0, 0), (0, 0)])
    for i in range(1, m):
        out = out + mx.pad(y[:, i], [(i, m - 1 - i), (0, 0), (0, 0)])
    return out.reshape(1, (T + m - 1) * stride, O)[:, padding : padding + out_len]


def dense_rows(dtype: str, scale: float, device: str, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [_dense_row(rng, dtype, device, repeats, model, c_in, c_out, max(64, int(frames * scale)), k, d)
            for model, c_in, c_out, frames, k, d in DENSE]


def _dense_row(rng, dtype: str, device: str, repeats: int, model: str, c_in: int, c_out: int, T: int, k: int,
               d: int) -> dict:
    import torch
    import torch.nn.functional as F

    mdt, tdt = getattr(mx, dtype), getattr(torch, dtype)
    tsync = (lambda _o: torch.cuda.synchronize()) if device == "cuda" else (lambda _o: None)
    pad = d * (k - 1) // 2
    x = rng.standard_normal((1, T, c_in)).astype(np.float32)
    w = (rng.standard_normal((c_out, k, c_in)) / np.sqrt(k * c_in)).astype(np.float32)
    xm, wm = mx.array(x).astype(mdt), mx.array(w).astype(mdt)
    w_taps = mx.contiguous(wm.transpose(1, 2, 0))
    w_cols = w_taps.reshape(k * c_in, c_out)
    ways = {"mx.conv1d": lambda: mx.conv1d(xm, wm, padding=pad, dilation=d),
            "taps": lambda: taps_conv(xm, w_taps, pad, d),
            "im2col": lambda: im2col_conv(xm, w_cols, k, pad, d)}
    want = np.array(mx.conv1d(mx.array(x), mx.array(w), padding=pad, dilation=d))
    row = {"model": model, "op": "conv1d", "dtype": dtype, "c_in": c_in, "c_out": c_out, "frames": T, "k": k,
           "dilation": d}
    _time_ways(ways, want, repeats, row)
    xt = torch.from_numpy(x).to(device).to(tdt).transpose(1, 2).contiguous()
    wt = torch.from_numpy(w).to(device).to(tdt).permute(0, 2, 1).contiguous()
    with torch.inference_mode():
        got = F.conv1d(xt, wt, padding=pad, dilation=d).float().transpose(1, 2).cpu().numpy()
        row["torch_max_rel"] = float(np.abs(got - want).max() / np.abs(want).max())
        row["torch_ms"] = _best(lambda: F.conv1d(xt, wt, padding=pad, dilation=d), tsync, repeats)
    print(json.dumps(row), flush=True)
    return row


def transposed_rows(dtype: str, scale: float, device: str, repeats: int) -> list[dict]:
    rng = np.random.default_rng(1)
    return [_transposed_row(rng, dtype, device, repeats, model, c_in, c_out, max(64, int(frames * scale)), k, st)
            for model, c_in, c_out, frames, k, st in TRANSPOSED]


def _transposed_row(rng, dtype: str, device: str, repeats: int, model: str, c_in: int, c_out: int, T: int, k: int,
                    s: int) -> dict:
    import torch
    import torch.nn.functional as F

    mdt, tdt = getattr(mx, dtype), getattr(torch, dtype)
    tsync = (lambda _o: torch.cuda.synchronize()) if device == "cuda" else (lambda _o: None)
    pad = (k - s + 1) // 2
    out_pad = (k - s) % 2
    out_len = (T - 1) * s - 2 * pad + k + out_pad
    x = rng.standard_normal((1, T, c_in)).astype(np.float32)
    w = (rng.standard_normal((c_out, k, c_in)) / np.sqrt(k * c_in)).astype(np.float32)  # MLX (O, k, C_in)
    xm, wm = mx.array(x).astype(mdt), mx.array(w).astype(mdt)
    w_mat = mx.contiguous(wm.transpose(2, 1, 0).reshape(c_in, k * c_out))
    ways = {"mx.conv_transpose1d": lambda: mx.conv_transpose1d(xm, wm, stride=s, padding=pad,
                                                               output_padding=out_pad),
            "matmul_overlap_add": lambda: matmul_transposed(xm, w_mat, k, s, pad, out_len)}
    want = np.array(mx.conv_transpose1d(mx.array(x), mx.array(w), stride=s, padding=pad, output_padding=out_pad))
    row = {"model": model, "op": "conv_transpose1d", "dtype": dtype, "c_in": c_in, "c_out": c_out, "frames": T,
           "k": k, "stride": s}
    _time_ways(ways, want, repeats, row)
    xt = torch.from_numpy(x).to(device).to(tdt).transpose(1, 2).contiguous()
    wt = torch.from_numpy(w).to(device).to(tdt).permute(2, 0, 1).contiguous()  # torch (C_in, C_out, k)
    with torch.inference_mode():
        ref = F.conv_transpose1d(xt, wt, stride=s, padding=pad, output_padding=out_pad)
        got = ref.float().transpose(1, 2).cpu().numpy()
        row["torch_max_rel"] = float(np.abs(got - want).max() / np.abs(want).max())
        row["torch_ms"] = _best(lambda: F.conv_transpose1d(xt, wt, stride=s, padding=pad, output_padding=out_pad),
                                tsync, repeats)
    print(json.dumps(row), flush=True)
    return row


# (model, C_out, samples, k, stride): first convs over the waveform (one input channel)
WAVEFORM = [("wav2vec2", 512, 480000, 10, 5), ("dac", 64, 441000, 7, 1), ("encodec", 32, 240000, 7, 1)]


def frames_conv(x: mx.array, w_mat: mx.array, k: int, stride: int) -> mx.array:
    """A one-channel conv as the (frames, k) window view of the waveform times w_mat (k, C_out)."""
    n = (x.shape[1] - k) // stride + 1
    windows = mx.as_strided(x, (x.shape[0], n, k), (x.shape[1], stride, 1))
    return windows @ w_mat


def waveform_rows(dtype: str, repeats: int) -> list[dict]:
    """The waveform convs by `mx.conv1d`, by a window view and one product, and by torch."""
    import torch
    import torch.nn.functional as F

    rows = []
    rng = np.random.default_rng(3)
    mdt, tdt = getattr(mx, dtype), getattr(torch, dtype)
    for model, c_out, n, k, stride in WAVEFORM:
        x = rng.standard_normal((1, n, 1)).astype(np.float32)
        w = (rng.standard_normal((c_out, k, 1)) / np.sqrt(k)).astype(np.float32)
        xm, wm = mx.array(x).astype(mdt), mx.array(w).astype(mdt)
        w_mat = mx.contiguous(wm[:, :, 0].T)
        want = np.array(mx.conv1d(mx.array(x), mx.array(w), stride=stride))
        row = {"model": model, "op": "waveform conv1d", "dtype": dtype, "c_out": c_out, "samples": n, "k": k,
               "stride": stride}
        ways = {"mx.conv1d": lambda xm=xm, wm=wm, stride=stride: mx.conv1d(xm, wm, stride=stride),
                "frames": lambda xm=xm, w_mat=w_mat, k=k, stride=stride: frames_conv(xm[..., 0], w_mat, k, stride)}
        _time_ways(ways, want, repeats, row)
        xt = torch.from_numpy(x).cuda().to(tdt).transpose(1, 2).contiguous()
        wt = torch.from_numpy(w).cuda().to(tdt).permute(0, 2, 1).contiguous()
        with torch.inference_mode():
            row["torch_ms"] = _best(lambda xt=xt, wt=wt, stride=stride: F.conv1d(xt, wt, stride=stride),
                                    lambda _o: torch.cuda.synchronize(), repeats)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


# (C, frames, k, dilation): DAC 44 kHz decoder's long convs, which `layers/long_conv.py` runs in time chunks on the GPU
CHUNKED = [(192, 220672, 7, 1), (192, 220672, 7, 3), (192, 220672, 7, 9), (384, 55168, 7, 3), (384, 55168, 7, 9)]


def chunk_rows(dtype: str, repeats: int) -> list[dict]:
    """Each long conv whole (`mx.conv1d`, padded first as the model does), in the default chunks and in chunks of
    2^16 frames; a way whose cuDNN graph fails says so."""
    rows = []
    rng = np.random.default_rng(2)
    for c, T, k, d in CHUNKED:
        pad = d * (k - 1) // 2
        x = mx.pad(mx.array(rng.standard_normal((1, T, c)).astype(np.float32)), [(0, 0), (pad, pad), (0, 0)])
        w = mx.array((rng.standard_normal((c, k, c)) / np.sqrt(k * c)).astype(np.float32))
        x, w = x.astype(getattr(mx, dtype)), w.astype(getattr(mx, dtype))
        row = {"op": "long conv1d", "dtype": dtype, "c": c, "frames": T, "k": k, "dilation": d}
        ways = {"whole": lambda x=x, w=w, d=d: mx.conv1d(x, w, dilation=d),
                "chunks": lambda x=x, w=w, d=d: chunked_conv1d(x, w, dilation=d),
                "chunks_65536": lambda x=x, w=w, d=d: chunked_conv1d(x, w, dilation=d, max_frames=65536)}
        for name, fn in ways.items():
            try:
                row[f"{name}_ms"] = _best(fn, _mx_sync, repeats)
            except Exception as e:  # noqa: BLE001 - cuDNN finds no plan: report it
                row[f"{name}_error"] = f"{type(e).__name__}: {e}"[:200]
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--json")
    p.add_argument("--scale", type=float, default=1.0, help="frames x scale (small runs on the CPU)")
    p.add_argument("--cpu", action="store_true", help="MLX and torch on the CPU (checks the script)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--only", choices=["all", "chunks"], default="all")
    a = p.parse_args(argv)
    import torch

    device = "cpu" if a.cpu else "cuda"
    mx.set_default_device(mx.cpu if a.cpu else mx.gpu)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for dtype in a.dtypes.split(","):
        if a.only == "chunks":
            rows += chunk_rows(dtype, a.repeats) + waveform_rows(dtype, a.repeats)
            continue
        rows += dense_rows(dtype, a.scale, device, a.repeats)
        rows += transposed_rows(dtype, a.scale, device, a.repeats)
    if a.json:
        with open(a.json, "w") as f:
            name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
            json.dump({"device": name, "scale": a.scale, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
