"""The cost of Whisper word timestamps and of batching: this port vs transformers and faster-whisper.

Real tiny.en (the bundled CTranslate2 weights, converted for transformers), espeak-ng clips, greedy decoding
with segment timestamps. For each engine: median wall time of a transcription without and with word
timestamps, and the ratio (the cost of the words). transformers runs its pipeline (`return_timestamps=True`
vs `"word"`), faster-whisper its `transcribe(word_timestamps=...)` (skipped when not installed).
Batching: all clips one by one vs in one padded batch (`transcribe_batch`; the pipeline's `batch_size`).
Prints a JSON report; writes it to `--out` only when asked.

    .venv/bin/python benchmarks/whisper_words.py [--clips fox harbor] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def median_time(fn, repeats: int) -> tuple[float, object]:
    """(median seconds over `repeats` runs after one warm-up, the last result)."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def port(clips: dict, repeats: int) -> dict:
    import mlx_audio_lab

    model = mlx_audio_lab.load("whisper-tiny.en")
    rows = {}
    for name, audio in clips.items():
        plain, _ = median_time(lambda a=audio: model.transcribe(a, beam_size=1), repeats)
        words, r = median_time(lambda a=audio: model.transcribe(a, beam_size=1, word_timestamps=True), repeats)
        rows[name] = {"plain_s": plain, "words_s": words, "words": sum(len(s.words) for s in r.segments)}
    from mlx_audio_lab.models.stt.whisper.batch import transcribe_batch

    audios = list(clips.values())
    single, _ = median_time(lambda: [model.transcribe(a, beam_size=1) for a in audios], repeats)
    batched, _ = median_time(lambda: transcribe_batch(model, audios, beam_size=1), repeats)
    rows["batch"] = {"one_by_one_s": single, "batched_s": batched, "clips": len(audios)}
    return rows


def transformers_pipeline(clips: dict, repeats: int) -> dict:
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor, pipeline

    from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

    torch.set_num_threads(max(1, torch.get_num_threads()))
    folder = real_hf_folder()
    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype="float32").eval()
    proc = WhisperProcessor.from_pretrained(folder)
    pipe = pipeline("automatic-speech-recognition", model=model, tokenizer=proc.tokenizer,
                    feature_extractor=proc.feature_extractor, device="cpu")
    rows = {}
    kw = {"generate_kwargs": {"num_beams": 1}}
    for name, audio in clips.items():
        plain, _ = median_time(lambda a=audio: pipe(a.copy(), return_timestamps=True, **kw), repeats)
        words, r = median_time(lambda a=audio: pipe(a.copy(), return_timestamps="word", **kw), repeats)
        rows[name] = {"plain_s": plain, "words_s": words, "words": len(r["chunks"])}
    audios = [a.copy() for a in clips.values()]
    single, _ = median_time(lambda: [pipe(a.copy(), return_timestamps=True, **kw) for a in audios], repeats)
    batched, _ = median_time(lambda: pipe([a.copy() for a in audios], return_timestamps=True,
                                          batch_size=len(audios), **kw), repeats)
    rows["batch"] = {"one_by_one_s": single, "batched_s": batched, "clips": len(audios)}
    return rows


def faster_whisper(clips: dict, repeats: int) -> dict | None:
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        return None
    from mlx_audio_lab.hub import resolve

    model = WhisperModel(str(resolve("whisper-tiny.en")), device="cpu", compute_type="float32")

    def run(audio, words):
        segments, _ = model.transcribe(audio, beam_size=1, word_timestamps=words, condition_on_previous_text=False,
                                       temperature=0.0)
        return list(segments)

    rows = {}
    for name, audio in clips.items():
        plain, _ = median_time(lambda a=audio: run(a, False), repeats)
        words, r = median_time(lambda a=audio: run(a, True), repeats)
        rows[name] = {"plain_s": plain, "words_s": words, "words": sum(len(s.words or []) for s in r)}
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="+", default=["fox", "harbor", "numbers"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", nargs="+", default=["mlx_audio_lab", "transformers", "faster_whisper"])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from mlx_audio_lab.fixtures.speech import speech

    clips = {name: speech(name, 16000) for name in args.clips}
    runners = {"mlx_audio_lab": port, "transformers": transformers_pipeline, "faster_whisper": faster_whisper}
    report = {"clips": {n: len(a) / 16000 for n, a in clips.items()}, "repeats": args.repeats, "engines": {}}
    for engine in args.engines:
        rows = runners[engine](clips, args.repeats)
        if rows is None:
            report["engines"][engine] = "not installed"
            continue
        for r in rows.values():
            if "words_s" in r:
                r["word_cost"] = r["words_s"] / r["plain_s"]
            else:
                r["batch_speedup"] = r["one_by_one_s"] / r["batched_s"]
        report["engines"][engine] = rows
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
