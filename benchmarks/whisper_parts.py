"""Where Whisper tiny.en's CPU time goes, part by part: `python -m benchmarks.whisper_parts [--repeats 5]`.

Encoder: the conv front end and each part of one encoder layer (layer norm, q/k/v projections, the NumPy
attention, output projection, fc1, GELU, fc2), each evaluated on its own (so the parts sum to a little more
than the whole layer). Decoder: the prefill of a prompt, the NumPy step of the four layers, the projection
onto the 51,864-token vocabulary, the logit rules. Minimum wall time and CPU time (all threads) over the
repeats, the load average beside them. Prints only; writes nothing.
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
        "  attention (NumPy)": lambda: attention(q, k, v, a.heads),
        "  output projection": lambda: a.out_proj(att),
        "  fc1": lambda: layer.fc1(h),
        "  gelu": lambda: gelu(f),
        "  fc2": lambda: layer.fc2(g),
    }
    return {name: _timed(fn, repeats) for name, fn in parts.items()}


def decoder_parts(model, repeats: int) -> dict[str, tuple[float, float]]:
    import mlx.core as mx

    from mlx_audio_lab.layers import project
    from mlx_audio_lab.models.stt.whisper.decoding import LogitRules
    from mlx_audio_lab.models.stt.whisper.step import Stepper, numpy_step

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

    parts = {
        "prefill (1-token prompt, cross keys/values)": lambda: Stepper(model, audio, prompt).logits,
        "token: whole step": token,
        "  decoder layers (NumPy step)": lambda: numpy_step(w, np.array([383]), pos, stepper.keys,
                                                            stepper.values, stepper.cross),
        "  logits (51,864 x 384 GEMV)": lambda: np.asarray(project(mx.array(x), w.embed_mx)),
        "  logit rules (timestamps)": lambda: rules(logits, [[50364, 383]]).argmax(),
    }
    return {name: _timed(fn, repeats) for name, fn in parts.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
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
