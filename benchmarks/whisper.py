"""Whisper tiny.en on this machine: this port (MLX) vs mlx-whisper, transformers (PyTorch) and faster-whisper.

Same weights (the bundled CTranslate2 tiny.en, converted for each engine), same espeak-ng clips, greedy
decoding with timestamps, no temperature fallback, no conditioning on previous text. Each engine runs in
its own child process (so peak RSS is its own) inside one run of this script; figures are medians of
`--repeats` runs after a warm-up. Reported: real-time factor, encoder time per 30 s window, time per
decoded token ((total - windows x encoder) / tokens) and peak memory, plus ratios against transformers.
`mlx_audio_lab_plain` is this port with its fast CPU paths off (`MLX_AUDIO_LAB_PLAIN_MATH=1`: plain MLX exp,
erf, softmax and matmuls), so the gain of `layers/fast_math.py` is measured inside the same run.

    .venv/bin/python benchmarks/whisper.py [--repeats 3] [--out benchmarks/results/whisper-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLIPS = ["fox", "harbor", "numbers", "long"]
ENGINES = ["mlx_audio_lab", "mlx_audio_lab_plain", "mlx_whisper", "transformers", "faster_whisper"]


def _clips() -> dict[str, object]:
    from mlx_audio_lab.fixtures.speech import speech

    return {name: speech(name, 16000) for name in CLIPS}


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def engine_mlx_audio_lab(clips, repeats):
    import mlx.core as mx

    import mlx_audio_lab
    from mlx_audio_lab.dsp import log_mel_spectrogram

    model = mlx_audio_lab.load("whisper-tiny.en")
    mel = mx.array(log_mel_spectrogram(clips["fox"]))[None]
    enc = _median_time(lambda: mx.eval(model.embed_audio(mel)), repeats)
    out = {}
    for name, audio in clips.items():
        result = {}

        def run(audio=audio, result=result):
            result["r"] = model.transcribe(audio, beam_size=1)

        t = _median_time(run, repeats)
        out[name] = {"time": t, "tokens": len(result["r"].tokens), "text": result["r"].text}
    return enc, out, mx.get_peak_memory() / 2**20


def engine_mlx_audio_lab_plain(clips, repeats):
    from mlx_audio_lab.layers import set_fast_math

    set_fast_math(False)
    return engine_mlx_audio_lab(clips, repeats)


def engine_mlx_whisper(clips, repeats):
    import mlx.core as mx
    import mlx_whisper
    from mlx_whisper.audio import log_mel_spectrogram as mw_mel
    from mlx_whisper.load_models import load_model

    import mlx_audio_lab
    from mlx_audio_lab.fixtures.cache import cache_dir
    from mlx_audio_lab.models.stt.whisper.load import export_mlx_community

    folder = export_mlx_community(mlx_audio_lab.load("whisper-tiny.en"), cache_dir("bench", "tiny.en-mlx-whisper"))
    model = load_model(str(folder), dtype=mx.float32)
    mel = mw_mel(clips["fox"], n_mels=80, padding=480000)[:3000][None]
    enc = _median_time(lambda: mx.eval(model.encoder(mel)), repeats)
    out = {}
    for name, audio in clips.items():
        result = {}

        def run(audio=audio, result=result):
            result["r"] = mlx_whisper.transcribe(audio, path_or_hf_repo=str(folder), temperature=0.0, fp16=False,
                                                 condition_on_previous_text=False)

        t = _median_time(run, repeats)
        tokens = sum(len(s["tokens"]) for s in result["r"]["segments"])
        out[name] = {"time": t, "tokens": tokens, "text": result["r"]["text"]}
    return enc, out, mx.get_peak_memory() / 2**20


def engine_transformers(clips, repeats):
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

    folder = real_hf_folder()
    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    fe = WhisperFeatureExtractor.from_pretrained(folder)
    feats = torch.from_numpy(fe(clips["fox"], sampling_rate=16000, return_tensors="np").input_features)
    with torch.no_grad():
        enc = _median_time(lambda: model.model.encoder(feats), repeats)
    out = {}
    for name, audio in clips.items():
        result = {}
        long = len(audio) > 480000

        def run(audio=audio, result=result, long=long):
            kw = dict(truncation=False, padding="longest", return_attention_mask=True) if long else {}
            f = fe(audio, sampling_rate=16000, return_tensors="pt", **kw)
            with torch.no_grad():
                result["ids"] = model.generate(f.input_features, return_timestamps=True, num_beams=1,
                                               **({"attention_mask": f.attention_mask} if long else {}))

        t = _median_time(run, repeats)
        ids = result["ids"][0].tolist()
        out[name] = {"time": t, "tokens": sum(1 for i in ids if i < 50257), "text": None}
    return enc, out, None


def engine_faster_whisper(clips, repeats):
    import numpy as np
    from faster_whisper import WhisperModel

    from mlx_audio_lab.hub import resolve

    model = WhisperModel(str(resolve("whisper-tiny.en")), device="cpu", compute_type="float32", cpu_threads=2)
    feats = model.feature_extractor(np.pad(clips["fox"], (0, 480000 - len(clips["fox"]))))[:, :3000]
    import ctranslate2

    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None], dtype=np.float32))
    enc = _median_time(lambda: model.model.encode(sv, to_cpu=True), repeats)
    out = {}
    for name, audio in clips.items():
        result = {}

        def run(audio=audio, result=result):
            segs, _ = model.transcribe(audio, beam_size=1, temperature=0.0, vad_filter=False,
                                       condition_on_previous_text=False, language="en")
            result["s"] = list(segs)

        t = _median_time(run, repeats)
        out[name] = {"time": t, "tokens": sum(len(s.tokens) for s in result["s"]),
                     "text": "".join(s.text for s in result["s"])}
    return enc, out, None


def child(engine: str, repeats: int) -> None:
    """Run one engine and print its JSON figures."""
    clips = _clips()
    enc, per_clip, mlx_peak = globals()[f"engine_{engine}"](clips, repeats)
    audio_s = sum(len(a) / 16000 for a in clips.values())
    total = sum(c["time"] for c in per_clip.values())
    tokens = sum(c["tokens"] for c in per_clip.values())
    windows = sum(max(1, -(-len(a) // 480000)) for a in clips.values())
    print(json.dumps({
        "engine": engine, "encoder_s": enc, "total_s": total, "audio_s": audio_s, "tokens": tokens,
        "real_time_factor": total / audio_s, "per_token_ms": 1000 * max(total - windows * enc, 0) / max(tokens, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "mlx_peak_mb": mlx_peak,
        "load_average": list(os.getloadavg()), "clips": per_clip,
    }))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", nargs="*", default=ENGINES)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "whisper-cpu.json")
    p.add_argument("--child", default=None)
    a = p.parse_args()
    if a.child:
        child(a.child, a.repeats)
        return
    from mlx_audio_lab import _blas

    results = []
    for engine in a.engines:
        before = list(os.getloadavg())  # the machine's load as this engine starts (its own run adds ~1-2)
        r = subprocess.run([sys.executable, __file__, "--child", engine, "--repeats", str(a.repeats)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{engine}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append({**json.loads(r.stdout.strip().splitlines()[-1]), "load_before": before})
    base = next((r for r in results if r["engine"] == "transformers"), None)
    print(f"{'engine':<16} {'RTF':>6} {'encoder s':>10} {'ms/token':>9} {'peak RSS MB':>12} {'speed vs torch':>15} "
          f"{'load (1 min)':>13}")
    for r in results:
        ratio = base["total_s"] / r["total_s"] if base else float("nan")
        r["speed_vs_transformers"] = ratio
        print(f"{r['engine']:<16} {r['real_time_factor']:6.3f} {r['encoder_s']:10.3f} {r['per_token_ms']:9.2f} "
              f"{r['peak_rss_mb']:12.0f} {ratio:14.2f}x {r['load_average'][0]:13.2f}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": sys.version.split()[0],
                    "blas": _blas.status(), "load_average": list(os.getloadavg())},
        "settings": {"repeats": a.repeats, "clips": CLIPS, "decoding": "greedy, timestamps, fp32"},
        "results": results}, indent=2))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
