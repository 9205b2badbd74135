"""Where Whisper tiny.en's CPU time goes, part by part: `python -m benchmarks.whisper_parts [--repeats 5]`.

Encoder: the conv front end and each part of one encoder layer (layer norm, q/k/v projections, the attention
(C kernel and NumPy blocks), output projection, fc1, GELU, fc2, the MLP through the C bias + GELU), each
evaluated on its own (so the parts sum to a little more than the whole layer). Decoder: the prefill of a
prompt (stepped; its cross keys/values; the plain MLX call it replaced),
the whole token step, the C kernel's step (two threads, one thread, without the logits), the NumPy
step of the four layers, the projection onto the 51,864-token vocabulary, the logit rules. Minimum wall time
and CPU time (all threads) over the repeats, the load average beside them. Prints only; writes nothing.

`--versus`: this port against faster-whisper (CTranslate2, float32, 2 threads, beam 1) in this one process,
the clips of `benchmarks/whisper.py` transcribed engine after engine in each round (greedy, timestamps), the
minimum over the rounds: real-time factor, CPU seconds of the process (all threads, spinning included), encoder
time per 30 s window and ms per token by the same formula as `benchmarks/whisper.py` ((total - windows x
encoder) / tokens). `mlx_audio_lab, C kernels off` is this port
without `layers/cpu/transformer_native` (NumPy decoder step, NumPy attention blocks, MLX MLP): the paths the
kernels replaced.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np


def _timed(fn: Callable, repeats: int) -> tuple[float, float]:
    """(min wall ms, min CPU ms) of `fn` (evaluated when it returns MLX arrays)."""
    import mlx.core as mx

    def once() -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        if isinstance(out, (mx.array, list)):
            mx.eval(out)
        return 1e3 * (time.perf_counter() - t), 1e3 * (time.process_time() - c)

    once()
    runs = [once() for _ in range(repeats)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def encoder_parts(model, repeats: int) -> dict[str, tuple[float, float]]:
    import mlx.core as mx

    from mlx_audio_lab.layers import gelu
    from mlx_audio_lab.layers.cpu.attention import attention
    from mlx_audio_lab.layers.cpu.transformer_native import fused_qkv, gelu_mlp

    enc = model.encoder
    mel = mx.array(np.random.default_rng(0).standard_normal((1, 3000, 80)).astype(np.float32))
    c1 = enc.conv1(mel)
    x = gelu(enc.conv2(gelu(c1))) + enc.embed_positions.weight[:1500]
    layer = enc.layers[0]
    a = layer.self_attn
    h = layer.self_attn_layer_norm(x)
    q, k, v = a.q_proj(h) * a.scale, a.k_proj(h), a.v_proj(h)
    att = attention(q, k, v, a.heads)
    f = layer.fc1(layer.final_layer_norm(x))
    g = gelu(f)
    mx.eval(c1, x, h, q, k, v, att, f, g)
    parts = {
        "encoder (30 s window)": lambda: enc(mel),
        "conv1 + gelu": lambda: gelu(enc.conv1(mel)),
        "conv2 + gelu": lambda: gelu(enc.conv2(gelu(c1))),
        "one layer": lambda: layer(x),
        "  layer norm": lambda: layer.self_attn_layer_norm(x),
        "  q, k, v projections": lambda: [a.q_proj(h) * a.scale, a.k_proj(h), a.v_proj(h)],
        "  q | k | v as one product": lambda: fused_qkv(h, a.q_proj, a.k_proj, a.v_proj, a.scale),
        "  attention (C kernel)": lambda: attention(q, k, v, a.heads),
        "  attention (NumPy blocks)": lambda: attention(q, k, v, a.heads, native=False),
        "  output projection": lambda: a.out_proj(att),
        "  fc1": lambda: layer.fc1(h),
        "  gelu": lambda: gelu(f),
        "  fc2": lambda: layer.fc2(g),
        "  MLP with the C bias + GELU": lambda: gelu_mlp(h, layer.fc1, layer.fc2),
    }
    return {name: _timed(fn, repeats) for name, fn in parts.items()}


def decoder_parts(model, repeats: int) -> dict[str, tuple[float, float]]:
    import mlx.core as mx

    from mlx_audio_lab.layers import project
    from mlx_audio_lab.models.stt.whisper.decoding import LogitRules
    from mlx_audio_lab.models.stt.whisper.step import Stepper, cross_keys_values, numpy_step

    mel = mx.array(np.random.default_rng(0).standard_normal((1, 3000, 80)).astype(np.float32))
    audio = model.embed_audio(mel)
    mx.eval(audio)
    prompt = [50257]
    stepper = Stepper(model, audio, prompt)
    w, pos = stepper.weights, stepper.pos
    x = numpy_step(w, np.array([383]), pos, stepper.keys, stepper.values, stepper.cross)
    rules = LogitRules.for_model(model, timestamps=True)
    logits = stepper.logits

    def token() -> None:
        stepper.pos = pos
        stepper([383])

    x0 = w.embed[383] + w.positions[pos]
    parts = {
        "prefill (1-token prompt, cross keys/values)": lambda: Stepper(model, audio, prompt).logits,
        "  cross keys/values, all layers (2 BLAS products)": lambda: cross_keys_values(w, np.asarray(audio[0])),
        "  prefill the plain way (MLX model call)": lambda: Stepper(model, audio, prompt, fast=False).logits,
        "token: whole step": token,
        "  C kernel: layers + logits, 2 threads": lambda: stepper.native.step(x0.copy(), pos, w.embed, threads=2),
        "  C kernel: layers + logits, 1 thread": lambda: stepper.native.step(x0.copy(), pos, w.embed, threads=1),
        "  C kernel: layers only, 1 thread": lambda: stepper.native.step(x0.copy(), pos, None, threads=1),
        "  decoder layers (NumPy step)": lambda: numpy_step(w, np.array([383]), pos, stepper.keys,
                                                            stepper.values, stepper.cross),
        "  logits (51,864 x 384 GEMV)": lambda: np.asarray(project(mx.array(x), w.embed_mx)),
        "  logit rules (timestamps)": lambda: rules(logits, [[50364, 383]]).argmax(),
    }
    return {name: _timed(fn, repeats) for name, fn in parts.items()}


def versus(repeats: int) -> None:
    """This port (C step, NumPy step) and faster-whisper on the same clips, interleaved, in this process."""
    import ctranslate2
    import mlx.core as mx
    from faster_whisper import WhisperModel

    import mlx_audio_lab
    from mlx_audio_lab.dsp import log_mel_spectrogram
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.layers.cpu import transformer_native
    from mlx_audio_lab.models.stt.whisper.step import step_weights

    from .whisper import CLIPS

    clips = {name: speech(name, 16000) for name in CLIPS}
    model = mlx_audio_lab.load("whisper-tiny.en")
    weights = step_weights(model)
    kernel = weights.kernel()
    fw = WhisperModel(str(resolve("whisper-tiny.en")), device="cpu", compute_type="float32", cpu_threads=2)
    fox = np.pad(clips["fox"], (0, 480000 - len(clips["fox"])))
    mel = mx.array(np.array(log_mel_spectrogram(fox, n_mels=80)))[None, :3000]
    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(fw.feature_extractor(fox)[None, :, :3000],
                                                                  dtype=np.float32))

    library = transformer_native.library()

    def ours(native: bool):
        def switch() -> None:  # off: every transformer_native kernel (decoder step, encoder attention and MLP)
            weights._kernel[:] = [kernel if native else None]
            transformer_native.KERNEL._lib[:] = [library if native else None]

        def run(audio):
            switch()
            return len(model.transcribe(audio, beam_size=1).tokens)

        def encode():
            switch()
            mx.eval(model.embed_audio(mel))
        return run, encode

    def faster(audio):
        segs, _ = fw.transcribe(audio, beam_size=1, temperature=0.0, vad_filter=False,
                                condition_on_previous_text=False, language="en")
        return sum(len(s.tokens) for s in segs)

    engines = {"mlx_audio_lab": ours(True), "mlx_audio_lab, C kernels off": ours(False),
               "faster-whisper": (faster, lambda: fw.model.encode(sv, to_cpu=True))}
    windows = sum(max(1, -(-len(a) // 480000)) for a in clips.values())
    audio_s = sum(len(a) / 16000 for a in clips.values())
    best = {name: {"total": np.inf, "cpu": np.inf, "encoder": np.inf, "tokens": 0} for name in engines}
    loads = []
    for _ in range(repeats + 1):  # the first round warms up and counts like the others (minimum)
        loads.append(os.getloadavg()[0])
        for name, (run, encode) in engines.items():
            t = time.perf_counter()
            encode()
            best[name]["encoder"] = min(best[name]["encoder"], time.perf_counter() - t)
            t, c, tokens = time.perf_counter(), time.process_time(), 0
            for audio in clips.values():
                tokens += run(audio)
            best[name]["total"] = min(best[name]["total"], time.perf_counter() - t)
            best[name]["cpu"] = min(best[name]["cpu"], time.process_time() - c)
            best[name]["tokens"] = tokens
    weights._kernel[:] = [kernel]
    transformer_native.KERNEL._lib[:] = [library]
    print(f"{len(clips)} clips, {audio_s:.1f} s of audio, {windows} windows; minimum of {repeats + 1} rounds; "
          f"load average (1 min) at each round's start: {', '.join(f'{x:.2f}' for x in loads)}")
    print(f"  {'engine':<28} {'RTF':>7} {'total s':>8} {'CPU s':>6} {'encoder s':>10} {'ms/token':>9} {'tokens':>7}")
    for name, b in best.items():
        per_token = 1e3 * max(b["total"] - windows * b["encoder"], 0) / max(b["tokens"], 1)
        print(f"  {name:<28} {b['total'] / audio_s:7.4f} {b['total']:8.3f} {b['cpu']:6.2f} {b['encoder']:10.3f} "
              f"{per_token:9.2f} "
              f"{b['tokens']:7d}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--versus", action="store_true", help="this port against faster-whisper, one process")
    a = p.parse_args()
    if a.versus:
        versus(a.repeats)
        return
    import mlx_audio_lab

    model = mlx_audio_lab.load("whisper-tiny.en")
    for title, fn in (("encoder", encoder_parts), ("decoder", decoder_parts)):
        load = os.getloadavg()[0]
        rows = fn(model, a.repeats)
        print(f"{title} (load {load:.1f} at start, {os.getloadavg()[0]:.1f} at end)")
        for name, (wall, cpu) in rows.items():
            print(f"  {name:<46} wall {wall:8.2f} ms   cpu {cpu:8.2f} ms")


if __name__ == "__main__":
    main()
