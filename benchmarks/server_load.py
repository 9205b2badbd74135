"""Load on the server: N transcription requests, C at a time, over loopback -> p50/p95 latency and throughput.

    python -m benchmarks.server_load [--url http://127.0.0.1:8000] [--model fixture:wav2vec2]
                                     [--requests 100] [--concurrency 16] [--clip fox]

Without --url it starts `mlx-audio-lab serve` on a free loopback port and stops it after. Prints JSON (nothing
is written to benchmarks/results/); latency counts every answer, refused ones (429/503) included, and
throughput counts answered requests (200) per second of wall time. Timings are never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation (numpy's default)."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


async def _load(url: str, model: str, audio: bytes, n: int, concurrency: int, warmup: int) -> tuple[list, float]:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        async def one() -> tuple[int, float]:
            async with gate:
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/audio/transcriptions", data={"model": model, "response_format": "json"},
                                        files={"file": ("clip.wav", audio, "audio/wav")})
                    return r.status_code, time.perf_counter() - t0
                except httpx.HTTPError:
                    return -1, time.perf_counter() - t0
        for _ in range(warmup):  # the first request loads the model: not counted
            await one()
        t0 = time.perf_counter()
        out = await asyncio.gather(*[one() for _ in range(n)])
        return out, time.perf_counter() - t0


def run_load(url: str, model: str, audio: bytes, requests: int = 100, concurrency: int = 16, warmup: int = 1) -> dict:
    """Send `warmup` requests (not counted), then the requests; p50/p95/max latency (s), throughput (answered
    per s) and counts by status."""
    results, wall = asyncio.run(_load(url, model, audio, requests, concurrency, warmup))
    latencies = [t for _, t in results]
    ok = [t for s, t in results if s == 200]
    statuses: dict[str, int] = {}
    for s, _ in results:
        statuses[str(s)] = statuses.get(str(s), 0) + 1
    return {"model": model, "requests": requests, "concurrency": concurrency, "wall_s": wall,
            "p50_s": percentile(latencies, 50), "p95_s": percentile(latencies, 95), "max_s": max(latencies),
            "p50_ok_s": percentile(ok, 50), "p95_ok_s": percentile(ok, 95),
            "throughput_per_s": len(ok) / wall if wall > 0 else float("nan"), "statuses": statuses}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=None, help="a running server (default: start one on loopback)")
    p.add_argument("--model", default="fixture:wav2vec2")
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--clip", default="fox", help="a speech fixture clip name (espeak-ng) or a file path")
    p.add_argument("--server-flags", default="--max-concurrency 2 --max-queue 64",
                   help="flags of the server this script starts")
    args = p.parse_args(argv)
    from mlx_audio_lab.fixtures.speech import speech_clip

    audio = (Path(args.clip) if Path(args.clip).is_file() else speech_clip(args.clip)).read_bytes()
    if args.url:
        out = run_load(args.url, args.model, audio, args.requests, args.concurrency)
    else:
        from mlx_audio_lab.server.background import start

        with start(*args.server_flags.split()) as server:
            out = run_load(server.url, args.model, audio, args.requests, args.concurrency)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
