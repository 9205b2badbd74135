"""Orpheus 3B (canopylabs/orpheus-3b-0.1-ft) at its real size, seeded weights: the Llama decode step in
tokens/s and audio s/s (7 tokens per SNAC frame, 24000 / 2048 frames per second), against transformers.

Engines, same seeded random weights: `mlx_audio_lab` (this port's Orpheus module through its key map and the
generation loop's forward) and `torch` (transformers' LlamaForCausalLM, KV cache). The 3.3B model is 13 GB in
fp32, so on a CPU the default keeps every width and the 156,940-token head but runs 2 of 28 layers
(--set layers=N; the JSON says so); on a GPU the whole model. Options: steps=N decode steps, prompt=N tokens,
and hidden/vocab/layers to shrink the model for a quick check (the test runs it tiny).
"""

from __future__ import annotations

from .. import harness as h
from .llama_decode import decode_bytes as _decode_bytes
from .llama_decode import engines as _engines

NAME = "orpheus-3b-0.1-ft"
TOKENS_PER_AUDIO_S = 7 * 24000 / 2048  # 7 tokens per SNAC frame, a frame per 2048 samples at 24 kHz


def _config(ctx: h.Context) -> tuple[dict, dict]:
    config = h.load_config(NAME)
    layers = ctx.option("layers", 28 if ctx.device == "gpu" else 2)
    hidden = ctx.option("hidden", config["hidden_size"])
    config.update(num_hidden_layers=layers, vocab_size=ctx.option("vocab", config["vocab_size"]))
    if hidden != config["hidden_size"]:  # a shrunken check run: heads of 64, 4x MLP
        config.update(hidden_size=hidden, intermediate_size=4 * hidden, head_dim=64,
                      num_attention_heads=max(hidden // 64, 1), num_key_value_heads=max(hidden // 256, 1))
    reduced = layers != 28 or hidden != 3072 or config["vocab_size"] != 156940
    return config, {"layers": layers, "hidden": hidden, "reduced": reduced, "of": {"layers": 28}}


def run(ctx: h.Context) -> dict:
    import numpy as np
    import torch
    import transformers

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.orpheus.config import OrpheusConfig
    from mlx_audio_lab.models.tts.orpheus.convert import HF, TIED_HEAD
    from mlx_audio_lab.models.tts.orpheus.model import Orpheus

    config, shape = _config(ctx)
    steps, n_prompt = ctx.option("steps", 32), ctx.option("prompt", 24)
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config)).eval()
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    state = {k: v for k, v in h.torch_state(ref).items() if not (config["tie_word_embeddings"] and k == TIED_HEAD)}
    port = fill_model(Orpheus(OrpheusConfig.from_dict(config)), state, HF, config, "benchmark weights", ctx.mx_dtype)
    del state
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    prompt = np.random.default_rng(0).integers(0, config["vocab_size"], n_prompt).tolist()

    eng = _engines(ref, port, prompt, steps, ctx.torch_device)
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    prefill = h.compare({k: (e["prefill"], sync[k]) for k, e in eng.items()}, **r)
    decode = h.compare({k: (e["decode"], sync[k], e["prefill"]) for k, e in eng.items()}, **r)
    tokens = {k: e["decode"](e["prefill"]()) for k, e in eng.items()}
    dec = h.stage(decode, steps, "tokens_per_s")
    bandwidth = h.measure_bandwidth(ctx.torch_device)["bandwidth_gbs"]
    step_bytes = _decode_bytes(config, ctx.dtype, n_prompt + steps // 2)
    note = (f"{shape['layers']}/28 layers" + (f", hidden {shape['hidden']}" if shape["hidden"] != 3072 else "")
            + f", {steps} greedy decode steps" if shape["reduced"] else f"full model, {steps} greedy decode steps")
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
           {"params": h.param_count(ref), "params_note": "reduced model: the 3.30B count does not apply"}),
        "input": {"prompt_tokens": n_prompt, "decode_steps": steps,
                  "decode": "greedy, KV cache, batch 1, host sync per token; SNAC decode not included"},
        "stages": {"prefill": h.stage(prefill, n_prompt, "tokens_per_s"), "decode": dec},
        "limits": {"bandwidth_gbs": bandwidth, "decode_bytes_per_step": step_bytes},
        "per_engine": per_engine,
    }


h.register(NAME, "Orpheus 3B, random weights, real widths (CPU: 2/28 layers): decode tokens/s, audio s/s")(run)
