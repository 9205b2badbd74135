"""Spark-TTS 0.5B (SparkAudio/Spark-TTS-0.5B) at its real size, seeded weights: the Qwen2 decode step in
tokens/s and BiCodec's decoder (semantic + global tokens -> 16 kHz audio) in audio s/s, against PyTorch.

Engines, same seeded random weights: `mlx_audio_lab` (this port's Qwen2 through the key map and its KV-cached
forward; its BiCodec through the BiCodec key map) and `torch` (transformers' Qwen2ForCausalLM with a KV cache;
spark_tts_lib's BiCodec.detokenize). Semantic tokens are 50 per second of audio, so audio s/s of the LM is
tokens/s / 50 (cloning writes only semantic tokens). The wav2vec2 / ECAPA tokenization of the reference clip is
a one-off per voice and not timed. Options: steps=N, prompt=N, seconds=S (BiCodec decode length),
hidden/vocab/layers to shrink the LM and codec=tiny (the fixture's BiCodec sizes) for a check run.
"""

from __future__ import annotations

from .. import harness as h
from .llama_decode import decode_bytes, engines

NAME = "spark-tts-0.5b"
SEMANTIC_PER_AUDIO_S = 50  # 16000 / 320
FULL = {"layers": 24, "hidden": 896, "vocab": 166000}


def _config(ctx: h.Context) -> tuple[dict, dict]:
    config = h.load_config(NAME)
    layers = ctx.option("layers", FULL["layers"])
    hidden = ctx.option("hidden", config["hidden_size"])
    config.update(num_hidden_layers=layers, vocab_size=ctx.option("vocab", config["vocab_size"]))
    if hidden != config["hidden_size"]:  # a shrunken check run: heads of 64, ~5.4x MLP
        config.update(hidden_size=hidden, intermediate_size=4 * hidden, num_attention_heads=max(hidden // 64, 1),
                      num_key_value_heads=1)
    config["head_dim"] = config["hidden_size"] // config["num_attention_heads"]
    reduced = (layers, hidden, config["vocab_size"]) != (FULL["layers"], FULL["hidden"], FULL["vocab"])
    return config, {"layers": layers, "hidden": hidden, "reduced": reduced, "of": {"layers": FULL["layers"]}}


def _lm(ctx: h.Context, config: dict):
    import torch
    import transformers

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.generation.backbone import LLAMA_HF, TIED_HEAD
    from mlx_audio_lab.models.tts.spark.model import SparkTTS

    torch.manual_seed(0)
    hf = {k: v for k, v in config.items() if k != "head_dim"}
    ref = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**hf)).eval()
    randomize_(ref, seed=0, std=0.02, keep=tuple(n for n, _ in ref.named_buffers()))
    state = {k: v for k, v in h.torch_state(ref).items() if not (config["tie_word_embeddings"] and k == TIED_HEAD)}
    port = fill_model(SparkTTS(hf), state, LLAMA_HF, hf, "benchmark weights", ctx.mx_dtype)
    return ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype), port


def _bicodec(ctx: h.Context):
    """spark_tts_lib's BiCodec (real config, or the fixture's with codec=tiny) and the port, same weights."""
    import tempfile
    from pathlib import Path

    import torch
    import yaml

    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.fixtures import randomize_
    from mlx_audio_lab.models.tts.spark.bicodec import BiCodec
    from mlx_audio_lab.models.tts.spark.config import BICODEC_DEFAULTS, BiCodecConfig
    from mlx_audio_lab.models.tts.spark.convert import bicodec_keymap, prepare_bicodec
    from mlx_audio_lab.models.tts.spark.fixture import SIZES, load_bicodec_untrained

    codec = SIZES["tiny"]["bicodec"] if ctx.option("codec", "real") == "tiny" else BICODEC_DEFAULTS
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.yaml").write_text(yaml.safe_dump({"audio_tokenizer": codec}))
        torch.manual_seed(0)
        ref = load_bicodec_untrained(Path(tmp))
    keep = tuple(n for n, _ in ref.named_buffers() if not n.endswith(("running_mean", "running_var")))
    randomize_(ref, seed=0, std=0.02, keep=keep)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_var.abs_().add_(0.5)
    port = BiCodec(BiCodecConfig(codec=dict(codec)))
    fill_model(port, prepare_bicodec(h.torch_state(ref)), bicodec_keymap(len(codec["decoder"]["rates"])), {},
               "benchmark weights", ctx.mx_dtype)
    return ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype), port, codec


def _codec_engines(ctx: h.Context, ref, port, codec: dict, seconds: float) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    frames = int(seconds * SEMANTIC_PER_AUDIO_S)
    semantic = rng.integers(0, codec["quantizer"]["codebook_size"], (1, frames))
    tokens = codec["speaker_encoder"]["token_num"]
    global_ids = rng.integers(0, 4 ** len(codec["speaker_encoder"]["fsq_levels"]), (1, 1, tokens))
    s_t, g_t = (torch.from_numpy(a).to(ctx.torch_device) for a in (semantic, global_ids))

    @torch.inference_mode()
    def torch_decode():
        return ref.detokenize(s_t, g_t)

    return {"mlx_audio_lab": (lambda: port.detokenize(mx.array(global_ids), mx.array(semantic)), h.mlx_sync),
            "torch": (torch_decode, h.torch_sync(ctx.torch_device))}


def run(ctx: h.Context) -> dict:
    import numpy as np

    config, shape = _config(ctx)
    steps, n_prompt, seconds = ctx.option("steps", 32), ctx.option("prompt", 64), ctx.option("seconds", 2.0)
    ref, port = _lm(ctx, config)
    prompt = np.random.default_rng(0).integers(0, config["vocab_size"], n_prompt).tolist()
    eng = engines(ref, port, prompt, steps, ctx.torch_device)
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": h.torch_sync(ctx.torch_device)}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    decode = h.compare({k: (e["decode"], sync[k], e["prefill"]) for k, e in eng.items()}, **r)
    tokens = {k: e["decode"](e["prefill"]()) for k, e in eng.items()}
    dec = h.stage(decode, steps, "tokens_per_s")
    params = h.param_count(ref)
    del ref, port
    codec_ref, codec_port, codec = _bicodec(ctx)
    detok = h.stage(h.compare(_codec_engines(ctx, codec_ref, codec_port, codec, seconds), **r), seconds,
                    "audio_s_per_s")
    bandwidth = h.measure_bandwidth(ctx.torch_device)["bandwidth_gbs"]
    step_bytes = decode_bytes(config, ctx.dtype, n_prompt + steps // 2)
    note = (f"{shape['layers']}/24 layers, hidden {shape['hidden']}, vocab {config['vocab_size']}" if shape["reduced"]
            else "full LM") + f", {n_prompt}-token prompt, {steps} decode steps; BiCodec {ctx.option('codec', 'real')}"
    summary, per_engine = {}, {}
    for k in eng:
        tps = dec[k]["tokens_per_s"]
        lm_rate, codec_rate = tps / SEMANTIC_PER_AUDIO_S, detok[k]["audio_s_per_s"]
        both = 1 / (1 / lm_rate + 1 / codec_rate)  # LM then BiCodec, one after the other
        summary[k] = h.summary_row(audio_s_per_s=both, tokens_per_s=tps, rtf=1 / both, vs_torch=dec[k].get("vs_torch"),
                                   note=note)
        per_engine[k] = {
            "decode_bandwidth_fraction": h.bandwidth_fraction(step_bytes, decode[k]["median_s"] / steps, bandwidth),
            "tokens_agree_with_torch": float(np.mean(np.array(tokens[k]) == np.array(tokens["torch"]))),
            "bicodec_audio_s_per_s": codec_rate,
        }
    return {
        "model": NAME, "family": "tts", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(eng), "shape": shape,
        **(h.check_params(NAME, params) if not shape["reduced"] else
           {"params": params, "params_note": "reduced model: the 0.5B count does not apply"}),
        "input": {"prompt_tokens": n_prompt, "decode_steps": steps, "bicodec_seconds": seconds,
                  "decode": "greedy, KV cache, batch 1, host sync per token; BiCodec detokenize of random tokens"},
        "stages": {"decode": dec, "bicodec_detokenize": detok},
        "limits": {"bandwidth_gbs": bandwidth, "decode_bytes_per_step": step_bytes},
        "per_engine": per_engine,
    }


h.register(NAME, "Spark-TTS 0.5B, random weights, real widths: Qwen2 decode tokens/s and BiCodec decode audio s/s")(run)
