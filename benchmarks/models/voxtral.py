"""Voxtral-Mini-3B-2507: audio encoder + projector throughput, KV-cached greedy decode of the Llama decoder.

The full model is 4.68B parameters (18.7 GB in fp32): two copies do not fit a 24 GiB CPU host, so on a CPU the
benchmark keeps every real width (1280-wide audio layers, 3072-wide text layers, the 131k vocabulary and its
separate head) but runs fewer layers (--set audio_layers=4 --set text_layers=2 by default; the JSON says so).
On a GPU the default is the whole model. Engines, same seeded random weights, runs interleaved:
`mlx_audio_lab` (this port, HF key map + fill_model), `torch` (transformers' VoxtralForConditionalGeneration)
and `mlx_audio` (mlx-audio 0.6.2's Voxtral, built by its own config, `sanitize` and `load_weights` from the
folder this port's `export_mlx_community` writes; --set peer=0 leaves it out). Options: steps=N decode steps.
"""

from __future__ import annotations

from typing import Any

from .. import harness as h

NAME = "voxtral-mini-3b-2507"
CHUNK_S = 30.0
N_AUDIO = 375  # audio embeddings per 30 s chunk (1500 encoder frames stacked by 4)
BOS, INST, BEGIN_AUDIO, AUDIO, END_INST = 1, 3, 25, 24, 4


def _config(ctx: h.Context) -> tuple[dict, dict]:
    """(config with the layer counts of this run, what was reduced)."""
    config = h.load_config(NAME)
    full = ctx.device == "gpu"
    layers = {"audio_layers": ctx.option("audio_layers", 32 if full else 4),
              "text_layers": ctx.option("text_layers", 30 if full else 2)}
    config["audio_config"] = {**config["audio_config"], "num_hidden_layers": layers["audio_layers"]}
    config["text_config"] = {**config["text_config"], "num_hidden_layers": layers["text_layers"]}
    reduced = layers != {"audio_layers": 32, "text_layers": 30}
    return config, {**layers, "reduced": reduced, "of": {"audio_layers": 32, "text_layers": 30}}


def _reference(config: dict):
    import torch
    import transformers

    from mlx_audio_lab.fixtures import randomize_

    torch.manual_seed(0)
    model = transformers.VoxtralForConditionalGeneration(transformers.VoxtralConfig(**config)).eval()
    randomize_(model, seed=0, std=0.02)
    return model


def _mlx_port(state: dict, config: dict, dtype):
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.stt.voxtral.config import VoxtralConfig
    from mlx_audio_lab.models.stt.voxtral.convert import HF
    from mlx_audio_lab.models.stt.voxtral.model import Voxtral

    return fill_model(Voxtral(VoxtralConfig.from_dict(config)), state, HF, config, "benchmark weights", dtype)


def _mlx_audio_port(port, folder: str):
    """mlx-audio's Model from the community folder through its own config, `sanitize` and `load_weights`
    (its loader's post-load hook wants the Tekken processor, which speed does not need)."""
    import json

    import mlx.core as mx
    from mlx_audio.stt.models.voxtral.config import ModelConfig
    from mlx_audio.stt.models.voxtral.voxtral import Model

    from mlx_audio_lab.models.stt.voxtral.load import export_mlx_community

    folder = export_mlx_community(port, folder)
    model = Model(ModelConfig.from_dict(json.loads((folder / "config.json").read_text())))
    weights = {}
    for path in sorted(folder.glob("*.safetensors")):
        weights.update(mx.load(str(path)))
    model.load_weights(list(model.sanitize(weights).items()), strict=True)
    mx.eval(model.parameters())
    return model.eval()


def _mlx_engine(model, mel, prompt: list[int], steps: int) -> dict[str, Any]:
    import mlx.core as mx

    def prefill():
        cache = model.make_cache()
        logits = model.decode(model.embed_inputs(mx.array([prompt]), model.embed_audio(mel)), cache)
        mx.eval(logits, [c.state for c in cache])
        return cache, logits

    def decode(args):
        cache, logits = args
        tokens = []
        for _ in range(steps):
            tok = mx.argmax(logits[:, -1], axis=-1)
            tokens.append(tok.item())
            logits = model.decode(model.embed_tokens(tok[:, None]), cache)
        return tokens

    return {"encode": lambda: model.embed_audio(mel), "prefill": prefill, "decode": decode,
            "full": lambda: decode(prefill())}


def _mlx_audio_engine(model, mel, prompt: list[int], steps: int) -> dict[str, Any]:
    import mlx.core as mx
    from mlx_audio.lm.models.cache import make_prompt_cache

    def prefill():
        cache = make_prompt_cache(model.language_model)
        logits = model(mx.array([prompt]), input_features=mel, cache=cache)
        mx.eval(logits, [c.state for c in cache])
        return cache, logits

    def decode(args):
        cache, logits = args
        tokens = []
        for _ in range(steps):
            tok = mx.argmax(logits[:, -1], axis=-1)
            tokens.append(tok.item())
            logits = model(tok[:, None], cache=cache)
        return tokens

    return {"encode": lambda: model.get_audio_embeds(mel), "prefill": prefill, "decode": decode,
            "full": lambda: decode(prefill())}


def _torch_engine(model, feats, prompt: list[int], steps: int, device: str) -> dict[str, Any]:
    import torch
    from transformers.cache_utils import DynamicCache

    ids = torch.tensor([prompt], device=device)

    @torch.inference_mode()
    def encode():
        return model.get_audio_features(input_features=feats).pooler_output

    @torch.inference_mode()
    def prefill():
        cache = DynamicCache()
        logits = model(input_ids=ids, input_features=feats, past_key_values=cache, use_cache=True).logits
        return cache, logits[:, -1:]

    @torch.inference_mode()
    def decode(args):
        cache, logits = args
        tokens = []
        for _ in range(steps):
            tok = logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(tok.item()))
            logits = model(input_ids=tok, past_key_values=cache, use_cache=True).logits
        return tokens

    return {"encode": encode, "prefill": prefill, "decode": decode, "full": lambda: decode(prefill())}


def _decode_bytes(config: dict, dtype: str, context: int) -> float:
    """Bytes read per decode step: every text layer, the final norm, the output head (vocab x hidden) and the
    KV cache of `context` positions; the token embedding reads one row."""
    t = config["text_config"]
    d, ffn, kv = t["hidden_size"], t["intermediate_size"], t["num_key_value_heads"] * t["head_dim"]
    q = t["num_attention_heads"] * t["head_dim"]
    layer = d * (q + 2 * kv) + q * d + 3 * d * ffn + 2 * d
    cache = 2 * t["num_hidden_layers"] * context * kv
    return (t["num_hidden_layers"] * layer + d + t["vocab_size"] * d + cache) * h.dtype_bytes(dtype)


def run(ctx: h.Context) -> dict:
    import tempfile

    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.models.stt.voxtral.generate import features

    config, layers = _config(ctx)
    steps = ctx.option("steps", 16)
    ref = _reference(config)
    state = h.torch_state(ref)
    port = _mlx_port(state, config, ctx.mx_dtype)
    del state
    peer, peer_error = None, "left out (--set peer=0)"
    if ctx.option("peer", True):
        tmp = tempfile.TemporaryDirectory(prefix="bench-voxtral-")
        try:
            peer, peer_error = _mlx_audio_port(port, tmp.name), None
        except Exception as e:  # noqa: BLE001  (the peer is optional: record why it did not load)
            peer_error = repr(e)
        tmp.cleanup()
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)

    mel_np = features(h.synthetic_audio(CHUNK_S, 16000, seed=0))  # (1, 3000, 128)
    mel = mx.array(mel_np).astype(ctx.mx_dtype)
    feats = torch.from_numpy(mel_np.transpose(0, 2, 1).copy()).to(ctx.torch_device, ctx.torch_dtype)
    prompt = [BOS, INST, BEGIN_AUDIO] + [AUDIO] * N_AUDIO + [END_INST]
    eng = {"mlx_audio_lab": _mlx_engine(port, mel, prompt, steps),
           "torch": _torch_engine(ref, feats, prompt, steps, ctx.torch_device)}
    if peer is not None:
        eng["mlx_audio"] = _mlx_audio_engine(peer, mel, prompt, steps)
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device), "mlx_audio": h.mlx_sync}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    encoder = h.compare({k: (e["encode"], sync[k]) for k, e in eng.items()}, **r)
    prefill = h.compare({k: (e["prefill"], sync[k]) for k, e in eng.items()}, **r)  # encoder + prompt
    decode = h.compare({k: (e["decode"], sync[k], e["prefill"]) for k, e in eng.items()}, **r)
    tokens = {k: e["decode"](e["prefill"]()) for k, e in eng.items()}

    bandwidth = h.measure_bandwidth(ctx.torch_device)["bandwidth_gbs"]
    step_bytes = _decode_bytes(config, ctx.dtype, len(prompt) + steps // 2)
    enc = h.stage(encoder, CHUNK_S, "audio_s_per_s")
    dec = h.stage(decode, steps, "tokens_per_s")
    own = {"mlx_audio_lab": port, "torch": ref, "mlx_audio": peer}
    per_engine, summary = {}, {}
    for k, e in eng.items():
        total = prefill[k]["median_s"] + decode[k]["median_s"]
        rtf = total / CHUNK_S
        memory = h.peak_memory(e["full"], "torch" if k == "torch" else "mlx", ctx, h.weights_mb(own[k]))
        per_engine[k] = {
            "rtf_composed": rtf, "memory": memory,
            "decode_bandwidth_fraction": h.bandwidth_fraction(step_bytes, decode[k]["median_s"] / steps, bandwidth),
            "tokens_agree_with_torch": float(np.mean(np.array(tokens[k]) == np.array(tokens["torch"]))),
        }
        summary[k] = h.summary_row(audio_s_per_s=enc[k]["audio_s_per_s"], tokens_per_s=dec[k]["tokens_per_s"],
                                   rtf=rtf, peak_mb=memory["peak_mb"],
                                   vs_torch=(prefill["torch"]["median_s"] + decode["torch"]["median_s"]) / total,
                                   note=(f"{layers['audio_layers']}/32 audio + {layers['text_layers']}/30 text "
                                         f"layers, {steps} decode steps" if layers["reduced"] else
                                         f"full model, {steps} decode steps"))
    return {
        "model": NAME, "family": "stt", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(eng), "peer_error": peer_error, "layers": layers,
        **(h.check_params(NAME, h.param_count(ref)) if not layers["reduced"] else
           {"params": h.param_count(ref), "params_note": "reduced layer count: the published 4.68B does not apply"}),
        "input": {"audio_s": CHUNK_S, "audio": "seeded synthetic (tones + noise)", "prompt_tokens": len(prompt),
                  "decode_steps": steps, "decode": "greedy, KV cache, batch 1, host sync per token, EOS ignored"},
        "stages": {"encoder": enc, "prefill": h.stage(prefill, CHUNK_S, "audio_s_per_s"), "decode": dec},
        "rtf_method": "prefill median (encoder + prompt) + decode median, composed",
        "limits": {"bandwidth_gbs": bandwidth, "decode_bytes_per_step": step_bytes},
        "per_engine": per_engine,
    }


h.register(NAME, "Voxtral Mini 3B, random weights, real widths (CPU: 4/32 audio + 2/30 text layers)")(run)
