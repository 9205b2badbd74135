"""OuteTTS 1.0 1B (OuteAI/Llama-OuteTTS-1.0-1B) at its real size, seeded weights: the Llama decode step in
tokens/s and audio s/s (2 tokens per DAC frame, 75 frames per second), against transformers.

Engines, same seeded random weights: `mlx_audio_lab` (this port's OuteTTS module through the Llama key map and
its KV-cached forward) and `torch` (transformers' LlamaForCausalLM, KV cache). The prompt defaults to 2000
tokens, the length a shipped speaker profile gives (its words, durations, features and 759 frames of codes).
The word markup the real model writes between code pairs (about 10 tokens a word) is not counted, so audio
s/s is an upper bound. Options: steps=N, prompt=N, and hidden/vocab/layers to shrink the model for a check.
"""

from __future__ import annotations

from .. import harness as h
from .llama_decode import decode_bytes, engines

NAME = "llama-outetts-1.0-1b"
TOKENS_PER_AUDIO_S = 2 * 75  # <|c1_a|><|c2_b|> per DAC frame, 24000 / 320 frames per second
FULL = {"layers": 16, "hidden": 2048, "vocab": 134400}


def _config(ctx: h.Context) -> tuple[dict, dict]:
    config = h.load_config(NAME)
    layers = ctx.option("layers", FULL["layers"])
    hidden = ctx.option("hidden", config["hidden_size"])
    config.update(num_hidden_layers=layers, vocab_size=ctx.option("vocab", config["vocab_size"]))
    if hidden != config["hidden_size"]:  # a shrunken check run: heads of 64, 4x MLP
        config.update(hidden_size=hidden, intermediate_size=4 * hidden, head_dim=64,
                      num_attention_heads=max(hidden // 64, 1), num_key_value_heads=max(hidden // 256, 1))
    reduced = (layers, hidden, config["vocab_size"]) != (FULL["layers"], FULL["hidden"], FULL["vocab"])
    return config, {"layers": layers, "hidden": hidden, "reduced": reduced, "of": {"layers": FULL["layers"]}}


def run(ctx: h.Context) -> dict:
    import numpy as np
    import torch
    import transformers

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.generation.backbone import LLAMA_HF, TIED_HEAD
    from mlx_audio_lab.models.tts.outetts.config import OuteTTSConfig
    from mlx_audio_lab.models.tts.outetts.model import OuteTTS

    config, shape = _config(ctx)
    steps, n_prompt = ctx.option("steps", 32), ctx.option("prompt", 2000)
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config)).eval()
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    state = {k: v for k, v in h.torch_state(ref).items() if not (config["tie_word_embeddings"] and k == TIED_HEAD)}
    port = fill_model(OuteTTS(OuteTTSConfig.from_dict(config)), state, LLAMA_HF, config, "benchmark weights",
                      ctx.mx_dtype)
    del state
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    prompt = np.random.default_rng(0).integers(0, config["vocab_size"], n_prompt).tolist()

    eng = engines(ref, port, prompt, steps, ctx.torch_device)
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    prefill = h.compare({k: (e["prefill"], sync[k]) for k, e in eng.items()}, **r)
    decode = h.compare({k: (e["decode"], sync[k], e["prefill"]) for k, e in eng.items()}, **r)
    tokens = {k: e["decode"](e["prefill"]()) for k, e in eng.items()}
    dec = h.stage(decode, steps, "tokens_per_s")
    bandwidth = h.measure_bandwidth(ctx.torch_device)["bandwidth_gbs"]
    step_bytes = decode_bytes(config, ctx.dtype, n_prompt + steps // 2)
    note = (f"{shape['layers']}/16 layers, hidden {shape['hidden']}, vocab {config['vocab_size']}" if shape["reduced"]
            else "full model") + f", {n_prompt}-token prompt, {steps} greedy decode steps"
    summary, per_engine = {}, {}
    for k in eng:
        tps = dec[k]["tokens_per_s"]
        summary[k] = h.summary_row(audio_s_per_s=tps / TOKENS_PER_AUDIO_S, tokens_per_s=tps,
                                   rtf=TOKENS_PER_AUDIO_S / tps, vs_torch=dec[k].get("vs_torch"), note=note)
        per_engine[k] = {
            "decode_bandwidth_fraction": h.bandwidth_fraction(step_bytes, decode[k]["median_s"] / steps, bandwidth),
            "tokens_agree_with_torch": float(np.mean(np.array(tokens[k]) == np.array(tokens["torch"]))),
        }
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(eng), "shape": shape,
        **(h.check_params(NAME, h.param_count(ref)) if not shape["reduced"] else
           {"params": h.param_count(ref), "params_note": "reduced model: the 1.25B count does not apply"}),
        "input": {"prompt_tokens": n_prompt, "decode_steps": steps,
                  "decode": "greedy, KV cache, batch 1, host sync per token; DAC decode not included"},
        "stages": {"prefill": h.stage(prefill, n_prompt, "tokens_per_s"), "decode": dec},
        "limits": {"bandwidth_gbs": bandwidth, "decode_bytes_per_step": step_bytes},
        "per_engine": per_engine,
    }


h.register(NAME, "OuteTTS 1.0 1B, random weights, real widths: decode tokens/s after a speaker-profile prompt")(run)
