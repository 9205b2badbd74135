"""Prometheus text exposition of requests, latency, real-time factor, loaded models and queues."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)  # seconds


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{str(v).replace(chr(34), "")}"' for k, v in kv.items()) + "}"


class Metrics:
    """Counters and histograms kept in memory; `render()` writes them in the Prometheus text format."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.rtf_sum: dict[str, float] = defaultdict(float)  # processing seconds per model
        self.audio_sum: dict[str, float] = defaultdict(float)  # audio seconds per model
        self.runs: dict[str, int] = defaultdict(int)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(route, method, status)] += 1
            counts = self.latency[route]
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    counts[i] += 1
            counts[-1] += 1
            self.latency_sum[route] += seconds

    def observe_rtf(self, model: str, processing_s: float, audio_s: float) -> None:
        with self.lock:
            self.rtf_sum[model] += processing_s
            self.audio_sum[model] += audio_s
            self.runs[model] += 1

    def render(self, entries: dict) -> str:
        out = ["# HELP mlx_audio_lab_requests_total HTTP requests by route, method and status.",
               "# TYPE mlx_audio_lab_requests_total counter"]
        with self.lock:
            for (route, method, status), n in sorted(self.requests.items()):
                out.append(f"mlx_audio_lab_requests_total{_labels(route=route, method=method, status=status)} {n}")
            out += ["# HELP mlx_audio_lab_request_seconds Request latency (to the last byte) by route.",
                    "# TYPE mlx_audio_lab_request_seconds histogram"]
            for route, counts in sorted(self.latency.items()):
                for b, n in zip((*map(str, BUCKETS), "+Inf"), counts):
                    out.append(f"mlx_audio_lab_request_seconds_bucket{_labels(route=route, le=b)} {n}")
                out.append(f"mlx_audio_lab_request_seconds_sum{_labels(route=route)} {self.latency_sum[route]:.6f}")
                out.append(f"mlx_audio_lab_request_seconds_count{_labels(route=route)} {counts[-1]}")
            out += ["# HELP mlx_audio_lab_real_time_factor Processing seconds per second of audio, over all runs.",
                    "# TYPE mlx_audio_lab_real_time_factor gauge"]
            for model in sorted(self.runs):
                rtf = self.rtf_sum[model] / self.audio_sum[model] if self.audio_sum[model] else 0.0
                out.append(f"mlx_audio_lab_real_time_factor{_labels(model=model)} {rtf:.6f}")
            out += ["# TYPE mlx_audio_lab_audio_seconds_total counter"]
            out += [f"mlx_audio_lab_audio_seconds_total{_labels(model=m)} {self.audio_sum[m]:.6f}"
                    for m in sorted(self.runs)]
            out += ["# TYPE mlx_audio_lab_model_runs_total counter"]
            out += [f"mlx_audio_lab_model_runs_total{_labels(model=m)} {self.runs[m]}" for m in sorted(self.runs)]
        out += ["# HELP mlx_audio_lab_model_loaded 1 when the model is in memory.",
                "# TYPE mlx_audio_lab_model_loaded gauge"]
        out += [f"mlx_audio_lab_model_loaded{_labels(model=i)} {int(e.model is not None)}" for i, e in entries.items()]
        out += ["# TYPE mlx_audio_lab_model_active gauge"]
        out += [f"mlx_audio_lab_model_active{_labels(model=i)} {e.active}" for i, e in entries.items()]
        out += ["# TYPE mlx_audio_lab_model_waiting gauge"]
        out += [f"mlx_audio_lab_model_waiting{_labels(model=i)} {e.waiting}" for i, e in entries.items()]
        return "\n".join(out) + "\n"
