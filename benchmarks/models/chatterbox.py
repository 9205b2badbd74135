"""Chatterbox's S3Gen (ResembleAI/chatterbox) at its real size, seeded weights: speech tokens -> mel (conformer
encoder + 10 Euler steps of the flow-matching estimator with CFG) -> 24 kHz audio (HiFT), against the
`chatterbox-tts` package's modules.

Engines, same seeded weights: `mlx_audio_lab` (this port's S3Gen filled through its key map) and `torch` (the
package's CausalMaskedDiffWithXvec and HiFTGenerator). The sizes are upstream's (S3Token2Wav: encoder 512 x 6 + 4
layers, estimator 256 channels with 4 + 12 x 4 + 4 transformer blocks, HiFT 512 channels), so the flow's cost is
10 estimator passes on a batch of 2 (CFG). Options: tokens=N new speech tokens (25 per second of audio),
prompt=N prompt tokens, steps=N Euler steps, tiny=1 for a quick check at the fixture's sizes.
"""

from __future__ import annotations

from .. import harness as h

NAME = "chatterbox-s3gen"
TOKENS_PER_AUDIO_S = 25.0


def run(ctx: h.Context) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.convert.keymap import fold_weight_norm
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.tts.chatterbox.config import HiFTConfig
    from mlx_audio_lab.models.tts.chatterbox.convert import S3GEN_KEYMAP
    from mlx_audio_lab.models.tts.chatterbox.flow import FlowConfig
    from mlx_audio_lab.models.tts.chatterbox.reference_s3gen import SIZES, _S3Gen
    from mlx_audio_lab.models.tts.chatterbox.s3gen import S3Gen

    tiny = ctx.option("tiny", False)
    n_tokens, n_prompt, steps = ctx.option("tokens", 50), ctx.option("prompt", 50), ctx.option("steps", 10)
    hift_cfg = HiFTConfig(**SIZES["tiny"]["hift"]) if tiny else HiFTConfig()
    flow_cfg = FlowConfig(**SIZES["tiny"]["flow"]) if tiny else FlowConfig()
    torch.manual_seed(0)
    ref = _S3Gen(hift_cfg, flow_cfg).eval()
    state = fold_weight_norm(h.torch_state(ref), dim=0)
    port = fill_model(S3Gen(hift_cfg, flow_cfg), state, S3GEN_KEYMAP, {}, "benchmark weights", ctx.mx_dtype)
    del state
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, flow_cfg.vocab_size, (1, n_tokens))
    prompt = rng.integers(0, flow_cfg.vocab_size, (1, n_prompt))
    prompt_mel = rng.standard_normal((1, 2 * n_prompt, 80)).astype(np.float32)
    xvector = rng.standard_normal((1, 192)).astype(np.float32)
    noise = rng.standard_normal((1, 2 * (n_prompt + n_tokens), 80)).astype(np.float32)
    m = {k: mx.array(v) for k, v in dict(tokens=tokens, prompt=prompt, mel=prompt_mel, x=xvector, z=noise).items()}
    dev, dt = ctx.torch_device, ctx.torch_dtype
    t = dict(tokens=torch.from_numpy(tokens).to(dev), prompt=torch.from_numpy(prompt).to(dev),
             mel=torch.from_numpy(prompt_mel).to(dev, dt), x=torch.from_numpy(xvector).to(dev, dt))

    def mlx_flow():
        return port.flow(m["tokens"], m["prompt"], m["mel"].astype(ctx.mx_dtype), m["x"].astype(ctx.mx_dtype),
                         noise=m["z"].astype(ctx.mx_dtype), n_timesteps=steps)

    @torch.inference_mode()
    def torch_flow():
        return ref.flow.inference(token=t["tokens"], token_len=torch.tensor([n_tokens], device=dev),
                                  prompt_token=t["prompt"], prompt_token_len=torch.tensor([n_prompt], device=dev),
                                  prompt_feat=t["mel"], prompt_feat_len=None, embedding=t["x"], finalize=True,
                                  n_timesteps=steps)[0]

    mel_np = np.array(mlx_flow().astype(mx.float32))
    mel_m, mel_t = mx.array(mel_np).astype(ctx.mx_dtype), torch.from_numpy(mel_np).transpose(1, 2).to(dev, dt)

    @torch.inference_mode()
    def torch_hift():
        return ref.mel2wav.inference(mel_t)[0]

    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(dev)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    flow_t = h.compare({"mlx_audio_lab": (mlx_flow, sync["mlx_audio_lab"]), "torch": (torch_flow, sync["torch"])}, **r)
    hift_t = h.compare({"mlx_audio_lab": (lambda: port.mel2wav(mel_m)[0], sync["mlx_audio_lab"]),
                        "torch": (torch_hift, sync["torch"])}, **r)
    seconds = n_tokens / TOKENS_PER_AUDIO_S
    flow_s, hift_s = h.stage(flow_t, seconds, "audio_s_per_s"), h.stage(hift_t, seconds, "audio_s_per_s")
    summary = {}
    for k in flow_t:
        total = flow_t[k]["median_s"] + hift_t[k]["median_s"]
        vs = (flow_t["torch"]["median_s"] + hift_t["torch"]["median_s"]) / total
        summary[k] = h.summary_row(audio_s_per_s=seconds / total, rtf=total / seconds, vs_torch=vs,
                                   note=("fixture sizes" if tiny else "real size") + f", {steps} Euler steps, CFG")
    return {"model": NAME, "family": "tts", "weights": "seeded random weights, " + ("fixture" if tiny else "real")
            + " sizes", "summary": summary, "engines": list(flow_t), "params": h.param_count(ref),
            "input": {"new_tokens": n_tokens, "prompt_tokens": n_prompt, "euler_steps": steps},
            "stages": {"flow": flow_s, "hift": hift_s}}


h.register(NAME, "Chatterbox S3Gen, seeded weights, real size: flow (10 Euler steps, CFG) + HiFT, audio s/s")(run)
