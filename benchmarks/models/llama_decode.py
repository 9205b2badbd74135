"""The decode step of a Llama-backbone TTS (Orpheus, OuteTTS) in two engines: the port's KV-cached forward and
transformers' `LlamaForCausalLM` with a DynamicCache; and the bytes a decode step reads (the bandwidth bound)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import harness as h


def engines(ref, port, prompt: list[int], steps: int, device: str) -> dict[str, Any]:
    import mlx.core as mx
    import torch
    from transformers.cache_utils import DynamicCache

    def mlx_prefill():
        forward = port.forward()
        logits = forward(mx.array([prompt]))
        mx.eval(logits)
        return forward, logits

    def mlx_decode(args):
        forward, logits = args
        out = []
        for _ in range(steps):
            tok = mx.argmax(logits, axis=-1)
            out.append(tok.item())
            logits = forward(tok[:, None])
        return out

    ids = torch.tensor([prompt], device=device)

    @torch.inference_mode()
    def torch_prefill():
        cache = DynamicCache()
        return cache, ref(input_ids=ids, past_key_values=cache, use_cache=True).logits[:, -1]

    @torch.inference_mode()
    def torch_decode(args):
        cache, logits = args
        out = []
        for _ in range(steps):
            tok = logits.argmax(-1, keepdim=True)
            out.append(int(tok.item()))
            logits = ref(input_ids=tok, past_key_values=cache, use_cache=True).logits[:, -1]
        return out

    return {"mlx_audio_lab": {"prefill": mlx_prefill, "decode": mlx_decode},
            "torch": {"prefill": torch_prefill, "decode": torch_decode}}


def decode_bytes(c: dict, dtype: str, context: int) -> float:
    """Weight + KV bytes read per decode step (every layer, the norm, the vocab x hidden head, one embedding row)."""
    d, ffn, kv = c["hidden_size"], c["intermediate_size"], c["num_key_value_heads"] * c["head_dim"]
    q = c["num_attention_heads"] * c["head_dim"]
    layer = d * (q + 2 * kv) + q * d + 3 * d * ffn + 2 * d
    return (c["num_hidden_layers"] * (layer + 2 * context * kv) + d + c["vocab_size"] * d) * h.dtype_bytes(dtype)


@dataclass(frozen=True)
class LlamaTTSBench:
    """What differs between the Llama-backbone TTS benchmarks: the config, the port, and how audio is counted."""

    name: str  # the config in benchmarks/configs and the result file's name
    port: str  # "package.module:Class" of the port's model, built from `config_class.from_dict(config)`
    config_class: str  # "package.module:Class"
    keymap: str  # "package.module:NAME" of the port's key map
    full: dict[str, int]  # the real layers / hidden / vocab
    tokens_per_audio_s: float
    cpu_layers: int  # layers kept on a CPU by default (the full count where it fits)
    prompt: int  # default prompt tokens
    params: str  # the real parameter count, for the note of a reduced run
    codec_note: str  # what the decode timing leaves out


def _resolve(target: str):
    import importlib

    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def llama_tts_config(ctx: h.Context, b: LlamaTTSBench) -> tuple[dict, dict]:
    """The real config with the run's layers / hidden / vocab, and the shape (reduced or not)."""
    config = h.load_config(b.name)
    layers = ctx.option("layers", b.full["layers"] if ctx.device == "gpu" else b.cpu_layers)
    hidden = ctx.option("hidden", config["hidden_size"])
    config.update(num_hidden_layers=layers, vocab_size=ctx.option("vocab", config["vocab_size"]))
    if hidden != config["hidden_size"]:  # a shrunken check run: heads of 64, 4x MLP
        config.update(hidden_size=hidden, intermediate_size=4 * hidden, head_dim=64,
                      num_attention_heads=max(hidden // 64, 1), num_key_value_heads=max(hidden // 256, 1))
    reduced = (layers, hidden, config["vocab_size"]) != (b.full["layers"], b.full["hidden"], b.full["vocab"])
    return config, {"layers": layers, "hidden": hidden, "reduced": reduced, "of": {"layers": b.full["layers"]}}


def run_llama_tts(ctx: h.Context, b: LlamaTTSBench) -> dict:
    """Prefill and greedy decode of the port vs transformers' LlamaForCausalLM on the same seeded weights."""
    import numpy as np
    import torch
    import transformers

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.generation.backbone import TIED_HEAD

    config, shape = llama_tts_config(ctx, b)
    steps, n_prompt = ctx.option("steps", 32), ctx.option("prompt", b.prompt)
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config)).eval()
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    state = {k: v for k, v in h.torch_state(ref).items() if not (config["tie_word_embeddings"] and k == TIED_HEAD)}
    model = _resolve(b.port)(_resolve(b.config_class).from_dict(config))
    port = fill_model(model, state, _resolve(b.keymap), config, "benchmark weights", ctx.mx_dtype)
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
    note = (f"{shape['layers']}/{b.full['layers']} layers, hidden {shape['hidden']}, vocab {config['vocab_size']}"
            if shape["reduced"] else "full model") + f", {n_prompt}-token prompt, {steps} greedy decode steps"
    summary, per_engine = {}, {}
    for k in eng:
        tps = dec[k]["tokens_per_s"]
        summary[k] = h.summary_row(audio_s_per_s=tps / b.tokens_per_audio_s, tokens_per_s=tps,
                                   rtf=b.tokens_per_audio_s / tps, vs_torch=dec[k].get("vs_torch"), note=note)
        per_engine[k] = {
            "decode_bandwidth_fraction": h.bandwidth_fraction(step_bytes, decode[k]["median_s"] / steps, bandwidth),
            "tokens_agree_with_torch": float(np.mean(np.array(tokens[k]) == np.array(tokens["torch"]))),
        }
    return {
        "model": b.name, "family": "tts", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(eng), "shape": shape,
        **(h.check_params(b.name, h.param_count(ref)) if not shape["reduced"] else
           {"params": h.param_count(ref), "params_note": f"reduced model: the {b.params} count does not apply"}),
        "input": {"prompt_tokens": n_prompt, "decode_steps": steps,
                  "decode": f"greedy, KV cache, batch 1, host sync per token; {b.codec_note}"},
        "stages": {"prefill": h.stage(prefill, n_prompt, "tokens_per_s"), "decode": dec},
        "limits": {"bandwidth_gbs": bandwidth, "decode_bytes_per_step": step_bytes},
        "per_engine": per_engine,
    }
