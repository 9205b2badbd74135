"""Nari Labs' Dia-1.6B: guided greedy generation (text encoder once, then one 9-channel decoder step per frame,
conditional and unconditional rows together), this port against transformers' DiaForConditionalGeneration.

Seeded random weights at the real size (benchmarks/configs/dia-1.6b.json), saved in the hub layout and read back
by the port's own loader; the DAC decode is not timed (benchmarks/models/dac.py measures it). On a CPU the default
keeps every width but 2 of 12 encoder and 2 of 18 decoder layers (--set encoder_layers=N, decoder_layers=N; the
JSON says so); on a GPU the whole model. Options: frames=N (decoder steps), text=N (text bytes), cfg=S (guidance
scale, 1 = none), tiny=1 (the fixture's sizes: checks the script, measures nothing worth keeping).
"""

from __future__ import annotations

from typing import Any

from .. import harness as h

NAME = "dia-1.6b"
FRAME_S = 512 / 44100  # one DAC 44 kHz frame


def _config(ctx: h.Context) -> tuple[dict, dict]:
    config = h.load_config(NAME)
    if ctx.option("tiny", False):
        from mlx_audio_lab.models.tts.dia.fixture import SIZES

        for part in ("encoder", "decoder"):
            config[f"{part}_config"] = {**config[f"{part}_config"], **SIZES["tiny"][part]}
    full = (config["encoder_config"]["num_hidden_layers"], config["decoder_config"]["num_hidden_layers"])
    enc = ctx.option("encoder_layers", full[0] if ctx.device == "gpu" else min(2, full[0]))
    dec = ctx.option("decoder_layers", full[1] if ctx.device == "gpu" else min(2, full[1]))
    config["encoder_config"]["num_hidden_layers"], config["decoder_config"]["num_hidden_layers"] = enc, dec
    reduced = (enc, dec) != (12, 18) or ctx.option("tiny", False)
    return config, {"encoder_layers": enc, "decoder_layers": dec, "of": [12, 18], "reduced": reduced}


def _reference(config: dict):
    import torch
    import transformers

    from mlx_audio_lab.fixtures import randomize_

    torch.manual_seed(0)
    model = transformers.DiaForConditionalGeneration(transformers.DiaConfig(**config)).eval()
    randomize_(model, seed=0, std=0.02, keep=tuple(n for n, _ in model.named_buffers()))
    return model


def _mlx_engine(model, ids: list[int], config, frames: int) -> dict[str, Any]:
    import mlx.core as mx

    from mlx_audio_lab.models.tts.dia.generate import generate_sequence

    guided = config.cfg_scale != 1.0
    text = mx.array([ids, [0] * len(ids)] if guided else [ids], dtype=mx.int32)

    def encode(_=None):
        out = model.encode_text(text)
        mx.eval(out)
        return out

    def generate(_=None):
        return generate_sequence(model, ids, config, None, frames)

    return {"encode": encode, "frames": generate}


def _torch_engine(model, ids: list[int], config, frames: int, device: str) -> dict[str, Any]:
    import numpy as np
    import torch

    from mlx_audio_lab.models.tts.dia import delay

    cfg = model.config.decoder_config
    prefill = delay.prefill(model.config.delay_pattern, cfg.bos_token_id, cfg.pad_token_id)
    batch = {"input_ids": torch.tensor([ids], device=device),
             "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device),
             "decoder_input_ids": torch.from_numpy(prefill[None]).to(device),
             "decoder_attention_mask": torch.ones(1, prefill.shape[0], dtype=torch.long, device=device)}
    text = torch.tensor([ids, [0] * len(ids)] if config.cfg_scale != 1.0 else [ids], device=device)

    @torch.inference_mode()
    def encode(_=None):
        return model.model.encoder(input_ids=text).last_hidden_state

    @torch.inference_mode()
    def generate(_=None):  # transformers' own generate, as the processor prepares it
        out = model.generate(**batch, max_new_tokens=frames, do_sample=False, guidance_scale=config.cfg_scale,
                             top_k=config.top_k or None, temperature=None, top_p=None)
        return np.asarray(out[0].cpu())

    return {"encode": encode, "frames": generate}


def run(ctx: h.Context) -> dict:
    import shutil

    from mlx_audio_lab.generation import SamplingConfig
    from mlx_audio_lab.models.tts.dia.load import load_weights
    from mlx_audio_lab.models.tts.dia.tokenizer import encode

    from .codec_common import temp_folder

    config, layers = _config(ctx)
    frames = ctx.option("frames", 24)
    sampling = SamplingConfig(temperature=0.0, top_k=45, cfg_scale=ctx.option("cfg", 3.0))
    ids = encode("[S1] " + "The harbor lights flickered as the night ferry pulled away. " * 4)[: ctx.option("text", 64)]
    ref = _reference(config)
    folder = temp_folder(NAME)
    ref.save_pretrained(folder, safe_serialization=True)
    port = load_weights(folder, dtype=ctx.mx_dtype)
    shutil.rmtree(folder, ignore_errors=True)
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    eng = {"mlx_audio_lab": _mlx_engine(port, ids, sampling, frames),
           "torch": _torch_engine(ref, ids, sampling, frames, ctx.torch_device)}
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    encode_t = h.compare({k: (e["encode"], sync[k]) for k, e in eng.items()}, **r)
    whole = h.compare({k: (e["frames"], sync[k]) for k, e in eng.items()}, **r)
    steps = h.stage(whole, frames, "tokens_per_s")
    audio = h.stage(whole, frames * FRAME_S, "audio_s_per_s")
    own = {"mlx_audio_lab": port, "torch": ref}
    summary, per_engine = {}, {}
    for k, e in eng.items():
        memory = h.peak_memory(e["frames"], "torch" if k == "torch" else "mlx", ctx, h.weights_mb(own[k]))
        per_engine[k] = {"memory": memory}
        note = (f"{layers['encoder_layers']}/12 encoder, {layers['decoder_layers']}/18 decoder layers, "
                if layers["reduced"] else "full model, ")
        summary[k] = h.summary_row(audio_s_per_s=audio[k]["audio_s_per_s"], tokens_per_s=steps[k]["tokens_per_s"],
                                   rtf=whole[k]["median_s"] / (frames * FRAME_S), peak_mb=memory["peak_mb"],
                                   vs_torch=whole["torch"]["median_s"] / whole[k]["median_s"],
                                   note=note + f"{frames} decoder steps, guided (tokens/s: frames of 9 codes)")
    got, want = eng["mlx_audio_lab"]["frames"](), eng["torch"]["frames"]()
    same = got.shape == want.shape
    per_engine["mlx_audio_lab"]["codes_agree_with_torch"] = float((got == want).mean()) if same else 0.0
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(eng), "layers": layers, "params": h.param_count(ref),
        "params_note": "reduced layer count" if layers["reduced"] else "full model",
        "input": {"text_bytes": len(ids), "decoder_steps": frames,
                  "decode": f"greedy, guidance {sampling.cfg_scale} (top-k {sampling.top_k}), KV cache, batch 1"},
        "stages": {"text_encoder": h.stage(encode_t, len(ids), "tokens_per_s"), "frames": audio},
        "per_engine": per_engine,
    }


h.register(NAME, "Nari Labs Dia-1.6B, random weights, real widths (CPU: 2/12 encoder, 2/18 decoder layers)")(run)
