"""IndexTTS 2's s2mel stage (`MyModel`, IndexTTS-2 config.yaml's s2mel section) at its real size, seeded weights:
GPT latents + semantic embeddings of N codes -> length regulator -> 25 Euler steps of the DiT + WaveNet estimator
with classifier-free guidance (batch 2 per step), continuing a prompt mel; in seconds of mel per second, against the
PyTorch reference (`indextts2-inference`'s `solve_euler`).

Engines, same seeded random weights and noise: `mlx_audio_lab` (this port through its key map) and `torch`.
Options: seconds=S (target audio, 1.72 mel frames per code), prompt=S (prompt audio), steps=N (Euler steps;
on a CPU the default is 4 of 25, the JSON says so), size=tiny (the test's quick check).
"""

from __future__ import annotations

from .. import harness as h

NAME = "indextts-2-s2mel"
FRAMES_PER_S = 22050 / 256


def run(ctx: h.Context) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.indextts.reference_s2mel import S2MEL_SIZES, _my_model, quiet_euler
    from mlx_audio_lab.models.tts.indextts.s2mel import S2Mel, S2MelConfig, target_frames
    from mlx_audio_lab.models.tts.indextts.s2mel.convert import KEYMAP, prepare

    size = ctx.option("size", "real")
    full = 25
    steps = ctx.option("steps", full if (ctx.device == "gpu" or size != "real") else 4)
    seconds, prompt_s = ctx.option("seconds", 4.0), ctx.option("prompt", 3.0)
    section = S2MEL_SIZES[size]
    torch.manual_seed(0)
    ref = _my_model(section, 1280)
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    state = {f"net.{k}": v for k, v in h.torch_state(ref.models).items()}
    port = fill_model(S2Mel(S2MelConfig.from_dict({"s2mel": section, "gpt": {"model_dim": 1280}})), prepare(state),
                      KEYMAP, {}, "benchmark weights", ctx.mx_dtype)
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype).eval()
    ref.models["cfm"].estimator.setup_caches(max_batch_size=1, max_seq_length=8192)
    n_codes = int(seconds * FRAMES_PER_S / 1.72)
    prompt_frames, frames = int(prompt_s * FRAMES_PER_S), int(prompt_s * FRAMES_PER_S) + target_frames(n_codes)
    rng = np.random.default_rng(0)
    lr_in = section["length_regulator"]["in_channels"]
    x = {"latent": rng.standard_normal((1, n_codes, 1280)), "semantic": rng.standard_normal((1, n_codes, lr_in)),
         "prompt_semantic": rng.standard_normal((1, prompt_frames // 2, lr_in)),
         "prompt_mel": rng.standard_normal((1, prompt_frames, 80)) - 5, "style": rng.standard_normal((1, 192)),
         "noise": rng.standard_normal((1, frames, 80))}
    x = {k: v.astype(np.float32) for k, v in x.items()}

    def mlx_s2mel():
        a = {k: mx.array(v, dtype=ctx.mx_dtype) for k, v in x.items()}
        return port(a["latent"], a["semantic"], a["prompt_semantic"], a["prompt_mel"], a["style"], a["noise"], steps)

    def torch_s2mel():
        t = {k: torch.from_numpy(v).to(ctx.torch_device, ctx.torch_dtype) for k, v in x.items()}
        m, dev = ref.models, ctx.torch_device
        with torch.no_grad():
            cond = m["length_regulator"](t["semantic"] + m["gpt_layer"](t["latent"]),
                                         ylens=torch.tensor([target_frames(n_codes)], device=dev))[0]
            prompt = m["length_regulator"](t["prompt_semantic"], ylens=torch.tensor([prompt_frames], device=dev))[0]
            mu = torch.cat([prompt, cond], dim=1)
            return quiet_euler(m["cfm"])(t["noise"].transpose(1, 2).clone(), torch.tensor([frames], device=dev),
                                         t["prompt_mel"].transpose(1, 2), mu, t["style"], None,
                                         torch.linspace(0, 1, steps + 1, device=dev), 0.7)

    engines = {"mlx_audio_lab": (mlx_s2mel, h.mlx_sync), "torch": (torch_s2mel, h.torch_sync(ctx.torch_device))}
    timings = h.compare(engines, warmup=ctx.warmup, repeats=ctx.repeats)
    mel = h.stage(timings, seconds, "audio_s_per_s")
    got, want = np.array(mlx_s2mel()[0], np.float32), torch_s2mel()[0, :, prompt_frames:].float().cpu().numpy().T
    reduced = steps != full or size != "real"
    note = (f"{steps}/{full} Euler steps, " if steps != full else "25 Euler steps, ") + (
        f"{seconds:g} s after a {prompt_s:g} s prompt, CFG 0.7")
    summary = {k: h.summary_row(audio_s_per_s=mel[k]["audio_s_per_s"], vs_torch=mel[k].get("vs_torch"), note=note)
               for k in mel}
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, IndexTTS-2 s2mel config",
        "summary": summary, "engines": list(mel), "shape": {"size": size, "steps": steps, "reduced": reduced,
                                                          "of": {"steps": full}},
        "params": h.param_count(ref.models), "input": {"target_s": seconds, "prompt_s": prompt_s, "codes": n_codes},
        "stages": {"s2mel": mel},
        "per_engine": {"mlx_audio_lab": {"max_abs_mel_vs_torch": float(np.abs(got - want).max())}},
    }


h.register(NAME, "IndexTTS 2 s2mel (flow matching, DiT + WaveNet), random weights, real size: mel seconds/s")(run)
