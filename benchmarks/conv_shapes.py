"""The codec / vocoder conv shapes at their benchmark sizes, MLX vs PyTorch, in one process, runs interleaved.

`python -m benchmarks.conv_shapes [--seconds 10] [--repeats 3] [--model encodec] [--plain]`: for every conv that
benchmarks/models/{encodec,kokoro,vocos,dac,snac}.py run at the full size (channels, kernel, stride, dilation,
groups, input frames for `seconds` of audio), the median ms of this project's CPU path (`layers/cpu/conv.py` of
the `mlx_audio_lab` imported: run the file by path with PYTHONPATH at another checkout for before/after), of
MLX's own op (`--plain`; slow for dilated and transposed convs) and of `torch.nn.functional.conv1d` /
`conv_transpose1d`, fp32. Speed is PyTorch ms / MLX ms. The load average is printed with the table (compare
ratios, not times).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """One conv of a port: its rate in frames per second of audio (so the length follows `seconds`)."""

    model: str
    name: str
    c_in: int
    c_out: int
    k: int
    rate: float
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    transposed: bool = False

    def frames(self, seconds: float) -> int:
        return max(int(self.rate * seconds), 2 * self.k * self.dilation)

    def padding(self) -> int:
        return 0 if self.transposed else (self.k - 1) * self.dilation // 2


SHAPES = [
    # EnCodec 24 kHz (32 filters, ratios 8 5 4 2): full-rate encoder/decoder ends, residual units, resamplers
    Shape("encodec", "enc.conv0 1->32 k7", 1, 32, 7, 24000),
    Shape("encodec", "res 32->16 k3 @24k", 32, 16, 3, 24000),
    Shape("encodec", "res 16->32 k1 @24k", 16, 32, 1, 24000),
    Shape("encodec", "down 32->64 k4 s2", 32, 64, 4, 24000, stride=2),
    Shape("encodec", "res 64->32 k3 @12k", 64, 32, 3, 12000),
    Shape("encodec", "down 64->128 k8 s4", 64, 128, 8, 12000, stride=4),
    Shape("encodec", "down 256->512 k16 s8", 256, 512, 16, 600, stride=8),
    Shape("encodec", "up 128->64 k8 s4 (T)", 128, 64, 8, 3000, stride=4, transposed=True),
    Shape("encodec", "up 64->32 k4 s2 (T)", 64, 32, 4, 12000, stride=2, transposed=True),
    Shape("encodec", "up 512->256 k16 s8 (T)", 512, 256, 16, 75, stride=8, transposed=True),
    Shape("encodec", "dec.last 32->1 k7", 32, 1, 7, 24000),
    # Kokoro-82M iSTFTNet generator (512 -> 256 @ 800 Hz -> 128 @ 4.8 kHz; kernels 3 7 11, dilations 1 3 5)
    Shape("kokoro", "up 512->256 k20 s10 (T)", 512, 256, 20, 80, stride=10, transposed=True),
    Shape("kokoro", "res 256 k7 @800", 256, 256, 7, 800),
    Shape("kokoro", "res 256 k11 d5 @800", 256, 256, 11, 800, dilation=5),
    Shape("kokoro", "up 256->128 k12 s6 (T)", 256, 128, 12, 800, stride=6, transposed=True),
    Shape("kokoro", "res 128 k3 @4.8k", 128, 128, 3, 4800),
    Shape("kokoro", "res 128 k7 @4.8k", 128, 128, 7, 4800),
    Shape("kokoro", "res 128 k11 @4.8k", 128, 128, 11, 4800),
    Shape("kokoro", "res 128 k7 d3 @4.8k", 128, 128, 7, 4800, dilation=3),
    Shape("kokoro", "res 128 k11 d5 @4.8k", 128, 128, 11, 4800, dilation=5),
    Shape("kokoro", "noise 22->256 k12 s6", 22, 256, 12, 4800, stride=6),
    Shape("kokoro", "post 128->22 k7 @4.8k", 128, 22, 7, 4800),
    # Vocos mel 24 kHz (hop 256): the embedding conv and the ConvNeXt depthwise convs
    Shape("vocos", "embed 100->512 k7", 100, 512, 7, 93.75),
    Shape("vocos", "dw 512 k7", 512, 512, 7, 93.75, groups=512),
    # DAC 44 kHz (64 -> 1024 encoder, 1536 -> 96 decoder; residual units k7 dilations 1 3 9)
    Shape("dac", "enc.conv0 1->64 k7", 1, 64, 7, 44100),
    Shape("dac", "res 64 k7 @44k", 64, 64, 7, 44100),
    Shape("dac", "res 64 k7 d9 @44k", 64, 64, 7, 44100, dilation=9),
    Shape("dac", "down 64->128 k4 s2", 64, 128, 4, 44100, stride=2),
    Shape("dac", "res 128 k7 d3 @22k", 128, 128, 7, 22050, dilation=3),
    Shape("dac", "dec.conv0 1024->1536 k7", 1024, 1536, 7, 86.13),
    Shape("dac", "up 1536->768 k16 s8 (T)", 1536, 768, 16, 86.13, stride=8, transposed=True),
    Shape("dac", "up 192->96 k4 s2 (T)", 192, 96, 4, 22050, stride=2, transposed=True),
    Shape("dac", "res 96 k7 @44k", 96, 96, 7, 44100),
    Shape("dac", "res 96 k7 d9 @44k", 96, 96, 7, 44100, dilation=9),
    Shape("dac", "res 192 k7 d3 @22k", 192, 192, 7, 22050, dilation=3),
    Shape("dac", "dec.last 96->1 k7", 96, 1, 7, 44100),
    # BigVGAN-v2 24 kHz (1536 -> 24 channels, AMP blocks k 3 7 11 x dilations 1 3 5; the last stages at full rate)
    Shape("bigvgan", "res 24 k3 @24k", 24, 24, 3, 24000),
    Shape("bigvgan", "res 24 k7 d3 @24k", 24, 24, 7, 24000, dilation=3),
    Shape("bigvgan", "res 24 k11 @24k", 24, 24, 11, 24000),
    Shape("bigvgan", "res 24 k11 d5 @24k", 24, 24, 11, 24000, dilation=5),
    Shape("bigvgan", "res 48 k3 @12k", 48, 48, 3, 12000),
    Shape("bigvgan", "res 48 k7 d3 @12k", 48, 48, 7, 12000, dilation=3),
    Shape("bigvgan", "res 48 k11 @12k", 48, 48, 11, 12000),
    Shape("bigvgan", "res 96 k7 @6k", 96, 96, 7, 6000),
    Shape("bigvgan", "res 96 k11 d5 @6k", 96, 96, 11, 6000, dilation=5),
    Shape("bigvgan", "res 192 k7 @3k", 192, 192, 7, 3000),
    Shape("bigvgan", "up 96->48 k4 s2 (T)", 96, 48, 4, 6000, stride=2, transposed=True),
    Shape("bigvgan", "up 48->24 k4 s2 (T)", 48, 24, 4, 12000, stride=2, transposed=True),
    Shape("bigvgan", "post 24->1 k7 @24k", 24, 1, 7, 24000),
    # SNAC 24 kHz (depthwise residual units)
    Shape("snac", "dw 48 k7 d9 @24k", 48, 48, 7, 24000, dilation=9, groups=48),
    Shape("snac", "up 128->64 k4 s2 (T)", 128, 64, 4, 12000, stride=2, transposed=True),
]


def _ms(fn, sync) -> float:
    """Wall ms of one run of `fn`, its result evaluated."""
    t0 = time.perf_counter()
    sync(fn())
    return 1000 * (time.perf_counter() - t0)


def engines(shape: Shape, seconds: float, plain: bool) -> dict:
    """name -> zero-argument callable for one shape (inputs built once, seeded)."""
    import mlx.core as mx
    import numpy as np
    import torch
    import torch.nn.functional as F

    from mlx_audio_lab.layers.cpu import conv as cpu_conv
    from mlx_audio_lab.layers.fast_math import plain_math

    rng = np.random.default_rng(0)
    T = shape.frames(seconds)
    x = rng.standard_normal((1, T, shape.c_in), dtype=np.float32)
    w_shape = (shape.c_out, shape.k, shape.c_in // shape.groups)
    if shape.transposed:
        w_shape = (shape.c_out, shape.k, shape.c_in) if shape.groups == 1 else w_shape
    w = (rng.standard_normal(w_shape, dtype=np.float32) / np.sqrt(shape.k * shape.c_in)).astype(np.float32)
    xm, wm = mx.array(x), mx.array(w)
    xt = torch.from_numpy(x[0].T.copy())[None]  # (1, C, T)
    s, d, g, p = shape.stride, shape.dilation, shape.groups, shape.padding()
    out: dict = {}
    if shape.transposed:
        wt = torch.from_numpy(w.transpose(2, 0, 1).copy())  # (C_in, C_out / groups, k)
        out["mlx"] = lambda: cpu_conv.conv_transpose1d(xm, wm, s, groups=g)
        out["torch"] = lambda: F.conv_transpose1d(xt, wt, stride=s, groups=g)
        plain_op = lambda: mx.conv_transpose1d(xm, wm, stride=s, groups=g)  # noqa: E731
    else:
        wt = torch.from_numpy(w.transpose(0, 2, 1).copy())  # (C_out, C_in / groups, k)
        out["mlx"] = lambda: cpu_conv.conv1d(xm, wm, s, p, d, g)
        out["torch"] = lambda: F.conv1d(xt, wt, stride=s, padding=p, dilation=d, groups=g)
        plain_op = lambda: mx.conv1d(xm, wm, stride=s, padding=p, dilation=d, groups=g)  # noqa: E731
    if plain:
        def plain_run():
            with plain_math():
                return plain_op()

        out["mlx_plain"] = plain_run
    return out


def main(argv: list[str] | None = None) -> None:
    import mlx.core as mx
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", action="append", help="only these models' shapes (repeatable)")
    ap.add_argument("--plain", action="store_true", help="also time MLX's own conv op")
    args = ap.parse_args(argv)
    import mlx_audio_lab

    print(f"conv paths of {mlx_audio_lab.__file__}")
    mx.set_default_device(mx.cpu)

    def mlx_sync(y):
        mx.eval(y)

    def torch_sync(_y):
        return None

    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}; torch threads {torch.get_num_threads()}")
    cols = ["mlx", "torch"] + (["mlx_plain"] if args.plain else [])
    print(f"| model | conv | frames | {' | '.join(c + ' ms' for c in cols)} | speed vs torch |")
    print("|---" * (len(cols) + 4) + "|")
    for shape in SHAPES:
        if args.model and shape.model not in args.model:
            continue
        fns = engines(shape, args.seconds, args.plain)
        times = {c: [] for c in cols}
        with torch.inference_mode():
            for c in cols:  # one untimed warm-up each
                _ms(fns[c], torch_sync if c == "torch" else mlx_sync)
            for _ in range(args.repeats):  # interleaved rounds: one run of each engine per round
                for c in cols:
                    times[c].append(_ms(fns[c], torch_sync if c == "torch" else mlx_sync))
        med = {c: statistics.median(v) for c, v in times.items()}
        row = " | ".join(f"{med[c]:.1f}" for c in cols)
        print(f"| {shape.model} | {shape.name} | {shape.frames(args.seconds)} | {row} | "
              f"{med['torch'] / med['mlx']:.2f}x |", flush=True)
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
