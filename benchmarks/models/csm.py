"""Sesame CSM-1B: the backbone's KV-cached decode step (tokens/s) and whole frames (backbone + 31 depth-decoder
steps, audio s/s at 12.5 frames/s), this port against transformers' CsmForConditionalGeneration.

Seeded random weights at the real size (benchmarks/configs/csm-1b.json: 1.55B language model + the 79M Mimi),
loaded by the port's own converter. The model is 6.5 GB in fp32 and both engines hold a copy, so on a CPU the
default keeps every width but fewer backbone layers (--set backbone_layers=2; the JSON says so); on a GPU the
whole model. Greedy frames from a fixed prompt, batch 1, EOS ignored. Options: frames=N, backbone_layers=N,
prompt=N (prompt tokens), tiny=1 (64-wide transformers and a small text vocabulary: checks the script, measures
nothing worth keeping). mlx-audio's Sesame port is not measured here.
"""

from __future__ import annotations

from typing import Any

from .. import harness as h

NAME = "csm-1b"
FRAME_S = 0.08  # one Mimi frame


TINY = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16)


def _config(ctx: h.Context) -> tuple[dict, dict]:
    config = h.load_config(NAME)
    layers = ctx.option("backbone_layers", 16 if ctx.device == "gpu" else 2)
    config["num_hidden_layers"] = layers
    if ctx.option("tiny", False):
        from mlx_audio_lab.models.tts.csm.reference import SIZES

        codec = SIZES["tiny"]["codec"]
        config.update(TINY, text_vocab_size=2048, bos_token_id=1)
        config["depth_decoder_config"] = {**config["depth_decoder_config"], **TINY, "backbone_hidden_size": 64}
        config["codec_config"] = {**config["codec_config"], **codec, "num_quantizers": config["num_codebooks"]}
    return config, {"backbone_layers": layers, "of": 16, "reduced": layers != 16 or ctx.option("tiny", False)}


def _reference(config: dict):
    import torch
    import transformers

    from mlx_audio_lab.fixtures import randomize_

    torch.manual_seed(0)
    model = transformers.CsmForConditionalGeneration(transformers.CsmConfig(**config)).eval()
    for seed, part in enumerate((model.backbone_model, model.depth_decoder)):  # RoPE buffers stay
        randomize_(part, seed=seed, std=0.02, keep=tuple(n for n, _ in part.named_buffers()))
    with torch.no_grad():  # transformers < 5.23 (the GPU machine's 5.17) leaves the two audio tables untied
        depth, backbone = model.depth_decoder.model.embed_tokens, model.backbone_model.embed_tokens.embed_audio_tokens
        if depth.weight is not backbone.weight:
            depth.weight.copy_(backbone.weight)
    return model


def _mlx_engine(model, prompt: list[int], frames: int) -> dict[str, Any]:
    import mlx.core as mx

    from mlx_audio_lab.models.tts.csm.generate import frame_codes, greedy

    n = model.config.num_codebooks

    def prefill():
        cache = model.make_cache()
        hidden, logits = model.backbone(model.embed_prompt(mx.array([prompt])), cache)
        mx.eval(hidden, logits, [c.state for c in cache])
        return cache, hidden, logits

    def step(args):  # one backbone decode step on a frame of codes
        cache, _, _ = args
        out = model.backbone(model.embed_frames(mx.zeros((1, 1, n), mx.int32)), cache)
        mx.eval(out)
        return out

    def generate(args):
        cache, hidden, logits = args
        codes = []
        for _ in range(frames):
            c = frame_codes(model, hidden[:, -1], logits[:, -1], greedy)
            codes.append(c)
            hidden, logits = model.backbone(model.embed_frames(c[:, None]), cache)
        mx.eval(codes, logits)
        return codes

    return {"prefill": prefill, "step": step, "frames": generate}


def _torch_engine(model, prompt: list[int], frames: int, device: str) -> dict[str, Any]:
    import torch
    from transformers.cache_utils import DynamicCache

    ids = torch.tensor([prompt], device=device)
    n = model.config.num_codebooks

    @torch.inference_mode()
    def prefill():
        cache = DynamicCache()
        x = model.embed_text_tokens(ids)
        model.backbone_model(inputs_embeds=x, past_key_values=cache, use_cache=True)
        return cache

    @torch.inference_mode()
    def step(cache):
        codes = torch.zeros((1, 1, n), dtype=torch.long, device=device)
        return model.backbone_model(input_ids=codes, past_key_values=cache, use_cache=True).last_hidden_state

    @torch.inference_mode()
    def generate(_=None):  # transformers' own generate: prefill + greedy frames
        return model.generate(input_ids=ids, max_new_tokens=frames, do_sample=False, depth_decoder_do_sample=False)

    return {"prefill": prefill, "step": step, "frames": generate}


def _step_bytes(config: dict, dtype: str, context: int) -> float:
    """Bytes read per backbone decode step: every layer, the final norm, the codebook-0 head and the KV cache."""
    d, ffn, heads, kv = (config["hidden_size"], config["intermediate_size"], config["num_attention_heads"],
                         config["num_key_value_heads"])
    hd = config.get("head_dim") or d // heads
    layer = d * (heads * hd + 2 * kv * hd) + heads * hd * d + 3 * d * ffn + 2 * d
    cache = 2 * config["num_hidden_layers"] * context * kv * hd
    return (config["num_hidden_layers"] * layer + d + config["vocab_size"] * d + cache) * h.dtype_bytes(dtype)


def run(ctx: h.Context) -> dict:
    import shutil

    import numpy as np

    from mlx_audio_lab.models.tts.csm.load import load_model

    from .codec_common import temp_folder

    config, layers = _config(ctx)
    frames = ctx.option("frames", 8)
    n_prompt = ctx.option("prompt", 24)
    ref = _reference(config)
    folder = temp_folder(NAME)  # saved as the hub layout, read back by the port's own loader
    ref.save_pretrained(folder, safe_serialization=True)
    port = load_model(folder, dtype=ctx.mx_dtype)
    shutil.rmtree(folder, ignore_errors=True)
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    prompt = [config["bos_token_id"], *range(2, n_prompt), 1]  # BOS, text tokens, a closing token
    eng = {"mlx_audio_lab": _mlx_engine(port, prompt, frames),
           "torch": _torch_engine(ref, prompt, frames, ctx.torch_device)}
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    step = h.compare({k: (e["step"], sync[k], e["prefill"]) for k, e in eng.items()}, **r)
    whole = h.compare({"mlx_audio_lab": (eng["mlx_audio_lab"]["frames"], h.mlx_sync, eng["mlx_audio_lab"]["prefill"]),
                       "torch": (eng["torch"]["frames"], sync["torch"])}, **r)  # torch's includes its prefill
    prefill = h.compare({k: (e["prefill"], sync[k]) for k, e in eng.items()}, **r)
    for k in whole:  # the MLX run above excludes the prefill: put it on the same footing
        if k == "mlx_audio_lab":
            whole[k] = {**whole[k], "median_s": whole[k]["median_s"] + prefill[k]["median_s"]}
    bandwidth = h.measure_bandwidth(ctx.torch_device)["bandwidth_gbs"]
    step_bytes = _step_bytes(config, ctx.dtype, len(prompt) + 1)
    steps = h.stage(step, 1, "tokens_per_s")
    audio = h.stage(whole, frames * FRAME_S, "audio_s_per_s")
    own = {"mlx_audio_lab": port, "torch": ref}
    summary, per_engine = {}, {}
    for k, e in eng.items():
        rtf = whole[k]["median_s"] / (frames * FRAME_S)
        memory = h.peak_memory(lambda e=e, k=k: e["frames"](e["prefill"]() if k == "mlx_audio_lab" else None),
                               "torch" if k == "torch" else "mlx", ctx, h.weights_mb(own[k]))
        per_engine[k] = {"memory": memory, "decode_bandwidth_fraction": h.bandwidth_fraction(
            step_bytes, step[k]["median_s"], bandwidth)}
        summary[k] = h.summary_row(audio_s_per_s=audio[k]["audio_s_per_s"], tokens_per_s=steps[k]["tokens_per_s"],
                                   rtf=rtf, peak_mb=memory["peak_mb"],
                                   vs_torch=whole["torch"]["median_s"] / whole[k]["median_s"],
                                   note=(f"{layers['backbone_layers']}/16 backbone layers, " if layers["reduced"]
                                         else "full model, ") + f"{frames} frames (tokens/s: backbone step)")
    mlx_codes = np.stack([np.array(c[0]) for c in eng["mlx_audio_lab"]["frames"](eng["mlx_audio_lab"]["prefill"]())])
    torch_codes = eng["torch"]["frames"]()[0].cpu().numpy()  # (frames, codebooks)
    per_engine["mlx_audio_lab"]["codes_agree_with_torch"] = float((mlx_codes == torch_codes).mean())
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(eng), "layers": layers,
        **(h.check_params(NAME, h.param_count(ref)) if not layers["reduced"] else
           {"params": h.param_count(ref), "params_note": "reduced layer count: the full count does not apply"}),
        "input": {"prompt_tokens": len(prompt), "frames": frames,
                  "decode": "greedy backbone + depth decoder, KV caches, batch 1, EOS ignored"},
        "stages": {"prefill": h.stage(prefill, len(prompt), "tokens_per_s"), "backbone_step": steps,
                   "frames": audio},
        "limits": {"bandwidth_gbs": bandwidth, "backbone_step_bytes": step_bytes},
        "per_engine": per_engine,
    }


h.register(NAME, "Sesame CSM-1B, random weights, real widths (CPU: 2/16 backbone layers)")(run)
