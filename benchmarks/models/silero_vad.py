"""Silero VAD v6 on its real weights (the `silero-vad` wheel): window probabilities of a whole clip, and one
streaming window, this port vs the package's TorchScript model (and its ONNX export through onnxruntime).

Engines, same weights: `mlx_audio_lab` (this port: the encoder batched over every window, the LSTM cell stepped
across them), `torch` (the TorchScript model called window by window, as `get_speech_timestamps` calls it) and
`onnxruntime` (the package's `OnnxWrapper` on `silero_vad.onnx`, one thread, where onnxruntime is installed).
Options (--set): seconds=60, rate=16000 (or 8000).
"""

from __future__ import annotations

from .. import harness as h

NAME = "silero_vad"


def _torch_probs(model, audio, rate: int, window: int, device: str = "cpu"):
    """The reference's loop: reset, then one call per (zero-padded) window."""
    import torch

    x = torch.from_numpy(audio).to(device)
    model.reset_states()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), window):
            chunk = torch.nn.functional.pad(x[i : i + window], (0, max(0, i + window - len(x))))
            out.append(model(chunk, rate))
    return torch.cat(out)


def run(ctx: h.Context) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    import mlx_audio_lab
    from mlx_audio_lab.models.vad.silero.config import BRANCHES
    from mlx_audio_lab.models.vad.silero.reference import package_model

    seconds, rate = ctx.option("seconds", 60.0), ctx.option("rate", 16000)
    window = BRANCHES[rate].window
    audio = h.synthetic_audio(seconds, rate, seed=0)
    port = mlx_audio_lab.load("silero-vad", dtype=ctx.mx_dtype)
    branch = port.branch(rate)
    windows = port.windows(audio, rate).astype(ctx.mx_dtype)
    ref = package_model()
    if ctx.torch_device != "cpu":
        ref = ref.to(ctx.torch_device)
    errors: dict[str, str] = {}

    clip = {"mlx_audio_lab": (lambda: branch(windows, branch.initial_state())[0], h.mlx_sync),
            "torch": (lambda: _torch_probs(ref, audio, rate, window, ctx.torch_device), h.torch_sync(ctx.torch_device))}
    one = windows[:1]
    step_state = branch.initial_state()
    chunk = torch.from_numpy(audio[:window]).to(ctx.torch_device)

    def torch_step():
        with torch.inference_mode():  # the clip loop left inference tensors in the model's carried state
            return ref(chunk, rate)

    step = {"mlx_audio_lab": (lambda: branch(one, step_state)[0], h.mlx_sync),
            "torch": (torch_step, h.torch_sync(ctx.torch_device))}
    try:
        from silero_vad import load_silero_vad

        onnx = load_silero_vad(onnx=True)
        clip["onnxruntime"] = (lambda: onnx.audio_forward(torch.from_numpy(audio), rate), lambda _o: None)
        step["onnxruntime"] = (lambda: onnx(chunk.cpu(), rate), lambda _o: None)
    except Exception as e:  # noqa: BLE001  (onnxruntime is optional: record why it did not run)
        errors["onnxruntime"] = repr(e)

    stages = {"clip": h.stage(h.compare(clip, ctx.warmup, ctx.repeats), seconds, "audio_s_per_s"),
              "window": h.stage(h.compare(step, ctx.warmup, ctx.repeats), window / rate, "audio_s_per_s")}
    got = np.array(clip["mlx_audio_lab"][0]()).astype(np.float32)
    want = clip["torch"][0]().float().cpu().numpy().reshape(-1)
    memory = {"mlx_audio_lab": h.peak_memory(clip["mlx_audio_lab"][0], "mlx", ctx, h.weights_mb(port)),
              "torch": h.peak_memory(clip["torch"][0], "torch", ctx, 1.2)}
    summary = {k: h.summary_row(audio_s_per_s=v["audio_s_per_s"], rtf=v["median_s"] / seconds,
                                peak_mb=memory.get(k, {}).get("peak_mb"), vs_torch=v.get("vs_torch"),
                                note=f"window probabilities of {seconds:g} s at {rate // 1000} kHz")
               for k, v in stages["clip"].items()}
    mx.eval(one)
    return {
        "model": NAME, "family": "vad", "weights": "real (silero-vad wheel, TorchScript tensors)", "summary": summary,
        "engines": list(clip), "errors": errors, "input": {"audio": "seeded synthetic (tones + noise)",
                                                           "seconds": seconds, "sample_rate": rate},
        "stages": stages, "memory": memory,
        "probabilities_max_abs_vs_torch": float(np.abs(got - want).max()) if got.shape == want.shape else None,
    }


h.register(NAME, "Silero VAD v6, real weights: window probabilities of a clip and one streaming window")(run)
