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

    # HiFT's sine source builds float32 waves whatever the weights' dtype: torch's bf16 run needs autocast
    cast = torch.autocast(dev.type if hasattr(dev, "type") else str(dev).split(":")[0], dtype=dt,
                          enabled=dt != torch.float32)

    @torch.inference_mode()
    def torch_hift():
        with cast:
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


T3_NAME = "chatterbox-t3"


def run_t3(ctx: h.Context) -> dict:
    """T3 at its real widths (1024, 16 heads, 8194 speech tokens; CPU default 2 of 30 layers, --set layers=N):
    prefill of the conditioning + text, then greedy CFG decode steps (batch 2), this port vs the package's loop."""
    from unittest import mock

    import numpy as np
    import torch

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.generation import SamplingConfig
    from mlx_audio_lab.models.tts.chatterbox.convert import T3_KEYMAP
    from mlx_audio_lab.models.tts.chatterbox.generate import speech_tokens
    from mlx_audio_lab.models.tts.chatterbox.reference_s3gen import stub_perth
    from mlx_audio_lab.models.tts.chatterbox.reference_t3 import _t3_module
    from mlx_audio_lab.models.tts.chatterbox.t3 import T3, T3Config

    stub_perth()  # the package imports its watermarker
    from chatterbox.models.t3 import t3 as t3_module
    from chatterbox.models.t3.modules.cond_enc import T3Cond

    layers = ctx.option("layers", 30 if ctx.device == "gpu" else 2)
    steps, n_text = ctx.option("steps", 32), ctx.option("text", 40)
    sizes = dict(hidden_size=1024, intermediate_size=ctx.option("ffn", 4096), num_hidden_layers=layers,
                 num_attention_heads=16, num_key_value_heads=16, head_dim=64, max_text_tokens=2048,
                 max_speech_tokens=4096)
    torch.manual_seed(0)
    ref = _t3_module(sizes).eval()
    state = h.torch_state(ref)
    port = fill_model(T3(T3Config.from_state(state)), state, T3_KEYMAP, {}, "benchmark weights", ctx.mx_dtype)
    del state
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    rng = np.random.default_rng(0)
    text = rng.integers(1, 250, n_text)
    speaker = rng.standard_normal((1, 256)).astype(np.float32)
    prompt = rng.integers(0, 6561, (1, 150))
    greedy = SamplingConfig(temperature=0.0, repetition_penalty=1.2)

    def mlx_run():
        return speech_tokens(port, text, speaker, prompt, 0.5, 0.5, greedy, max_new_tokens=steps)

    ids = torch.from_numpy(np.stack([np.r_[255, text, 0]] * 2)).to(ctx.torch_device)

    def torch_run():
        cond = T3Cond(speaker_emb=torch.from_numpy(speaker).to(ctx.torch_device, ctx.torch_dtype),
                      cond_prompt_speech_tokens=torch.from_numpy(prompt).to(ctx.torch_device),
                      emotion_adv=0.5 * torch.ones(1, 1, 1, device=ctx.torch_device, dtype=ctx.torch_dtype))
        with mock.patch.object(torch, "multinomial", lambda p, num_samples=1, **_: p.argmax(-1, keepdim=True)), \
                mock.patch.object(t3_module, "tqdm", lambda x, **_: x):
            return ref.inference(t3_cond=cond, text_tokens=ids, max_new_tokens=steps, temperature=1.0,
                                 cfg_weight=0.5, repetition_penalty=1.2, min_p=0.0, top_p=1.0)

    timings = h.compare({"mlx_audio_lab": (mlx_run, h.mlx_sync), "torch": (torch_run, h.torch_sync(ctx.torch_device))},
                        warmup=ctx.warmup, repeats=ctx.repeats)
    st = h.stage(timings, steps, "tokens_per_s")
    agree = float(np.mean(mlx_run()[:steps] == torch_run()[0].cpu().numpy()[:steps]))
    note = f"{layers}/30 layers, {steps} greedy CFG steps (prefill included)"
    summary = {k: h.summary_row(audio_s_per_s=v["tokens_per_s"] / TOKENS_PER_AUDIO_S, tokens_per_s=v["tokens_per_s"],
                                rtf=TOKENS_PER_AUDIO_S / v["tokens_per_s"], vs_torch=v.get("vs_torch"), note=note)
               for k, v in st.items()}
    return {"model": T3_NAME, "family": "tts", "weights": "seeded random weights, real widths", "summary": summary,
            "engines": list(st), "params": h.param_count(ref), "stages": {"generate": st},
            "tokens_agree_with_torch": agree, "input": {"text_tokens": n_text, "prompt_tokens": 150, "steps": steps}}


h.register(T3_NAME, "Chatterbox T3, seeded weights, real widths (CPU: 2/30 layers): greedy CFG tokens/s")(run_t3)
