"""Mimi at its real size (seeded weights): encode / decode throughput and the 80 ms streaming step latency.

The reference is transformers' MimiModel from benchmarks/configs/mimi.json, saved in the Hugging Face layout and
read back by the port's `load_model`. Streaming: the port's `encode_stream` / `decode_stream` one 80 ms frame
at a time; the reference's encoder in `use_streaming` mode (its decoder has no streaming conv state).
mlx-audio's Mimi reads kyutai's original (moshi) checkpoint: the reference's state dict is renamed to moshi's
names (`moshi_state`) and given to its own `load_pytorch_weights`; its `encode_step` / `decode_step` stream.
Options: seconds=10, stream_steps=25, num_quantizers=32.
"""

from __future__ import annotations

import math
import re
import statistics
import time

import numpy as np

from .. import harness
from .codec_common import (
    LAB,
    PEER,
    TORCH,
    Engine,
    codec_payload,
    guarded,
    hf_reference,
    temp_folder,
    torch_engine_module,
)

NAME = "mimi"
_ROPE = ("inv_freq", "original_inv_freq")
# transformers' names -> kyutai's moshi checkpoint names (data); the attention's q, k, v are fused below.
_MOSHI = [
    (r"^(en|de)coder\.(?:en|de)coder_seanet\.layers\.(\d+)\.block\.(\d+)\.conv\.",
     r"\1coder.model.\2.block.\3.conv.conv."),
    (r"^decoder\.decoder_seanet\.layers\.(2|5|8|11)\.conv\.", r"decoder.model.\1.convtr.convtr."),
    (r"^(en|de)coder\.(?:en|de)coder_seanet\.layers\.(\d+)\.conv\.", r"\1coder.model.\2.conv.conv."),
    (r"^encoder\.downsample\.conv\.", "downsample.conv.conv.conv."),
    (r"^decoder\.upsample\.conv\.", "upsample.convtr.convtr.convtr."),
    (r"^(?:en|de)coder\.((?:en|de)coder)_transformer\.layers\.", r"\1_transformer.transformer.layers."),
    (r"\.self_attn\.o_proj\.", ".self_attn.out_proj."),
    (r"\.mlp\.fc1\.", ".linear1."),
    (r"\.mlp\.fc2\.", ".linear2."),
    (r"\.input_layernorm\.", ".norm1."),
    (r"\.post_attention_layernorm\.", ".norm2."),
    (r"\.self_attn_layer_scale\.", ".layer_scale_1."),
    (r"\.mlp_layer_scale\.", ".layer_scale_2."),
    (r"^quantizer\.semantic_residual_vector_quantizer\.", "quantizer.rvq_first."),
    (r"^quantizer\.acoustic_residual_vector_quantizer\.", "quantizer.rvq_rest."),
    (r"\.layers\.(\d+)\.codebook\.embed_sum$", r".vq.layers.\1._codebook.embedding_sum"),
    (r"\.layers\.(\d+)\.codebook\.(cluster_usage|initialized)$", r".vq.layers.\1._codebook.\2"),
]


def moshi_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A transformers Mimi state dict under kyutai's moshi names (torch layouts kept), q/k/v fused to in_proj."""
    out: dict[str, np.ndarray] = {}
    for k, v in state.items():
        for pattern, repl in _MOSHI:
            k = re.sub(pattern, repl, k)
        if k.endswith(("inv_freq", "_embed")):
            continue
        out[k] = v
    for k in [k for k in out if k.endswith(".self_attn.q_proj.weight")]:
        base = k[: -len("q_proj.weight")]
        out[base + "in_proj_weight"] = np.concatenate([out.pop(base + f"{p}_proj.weight") for p in "qkv"])
    return out


def step_latency(steps: list, sync: harness.Sync, warmup: int = 3) -> dict:
    """Time each call of a stateful stream (after `warmup` steps): median / p90 / max seconds per step."""
    runs = []
    for i, step in enumerate(steps):
        t0 = time.perf_counter()
        sync(step())
        if i >= warmup:
            runs.append(time.perf_counter() - t0)
    p90 = sorted(runs)[max(math.ceil(0.9 * len(runs)) - 1, 0)]  # nearest rank
    return {"median_s": statistics.median(runs), "p90_s": p90, "max_s": max(runs), "steps": len(runs)}


@harness.register(NAME, "Mimi, real size: encode/decode audio s per s, 80 ms streaming step; port vs torch vs "
                        "mlx-audio")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch
    from transformers import MimiConfig, MimiModel

    from mlx_audio_lab.models.codecs.mimi.load import load_model

    seconds = ctx.option("seconds", 10.0)
    n_steps = ctx.option("stream_steps", 25)
    cfg = harness.load_config(NAME)
    n_q = ctx.option("num_quantizers", int(cfg["num_quantizers"]))
    sr = cfg["sampling_rate"]
    frame = int(sr / cfg["frame_rate"])  # 1920 samples: 80 ms
    audio = harness.synthetic_audio(seconds, sr, seed=0)
    audio = np.pad(audio, (0, -len(audio) % frame))
    errors: dict[str, str] = {}

    reference, folder = hf_reference(MimiModel, MimiConfig, cfg, NAME, keep=_ROPE)
    streaming: dict[str, dict] = {}

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.from_numpy(audio)[None, None].to(ctx.torch_device, ctx.torch_dtype)
        with torch.inference_mode():
            codes = model.encode(x, num_quantizers=n_q).audio_codes

        def encode():
            with torch.inference_mode():
                return model.encode(x, num_quantizers=n_q).audio_codes

        def decode():
            with torch.inference_mode():
                return model.decode(codes).audio_values

        sync = harness.torch_sync(ctx.torch_device)
        try:
            state: dict = {}

            def enc_step(i: int):
                with torch.inference_mode():
                    out = model.encode(x[..., i * frame:(i + 1) * frame], num_quantizers=n_q, use_streaming=True,
                                       padding_cache=state.get("pad"), encoder_past_key_values=state.get("kv"))
                state["pad"], state["kv"] = out.padding_cache, out.encoder_past_key_values
                return out.audio_codes

            streaming[TORCH] = {"encode_step": step_latency([lambda i=i: enc_step(i) for i in range(n_steps)],
                                                            sync)}
        except Exception as e:  # noqa: BLE001  (streaming keywords differ between transformers versions)
            errors["torch.stream"] = f"{type(e).__name__}: {e}"
        return Engine(TORCH, "torch", {"encode": encode, "decode": decode}, sync, harness.weights_mb(model),
                      codes=lambda: codes[0].cpu().numpy())

    def lab_engine() -> Engine:
        model = load_model(folder, dtype=ctx.mx_dtype)
        x = mx.array(audio)[None, :, None].astype(ctx.mx_dtype)
        codes = model.encode_batch(x, n_q)
        mx.eval(codes)
        enc, dec = model.encode_stream(n_q), model.decode_stream()
        enc_steps = [lambda i=i: enc.step_batch(x[:, i * frame:(i + 1) * frame]) for i in range(n_steps)]
        dec_steps = [lambda i=i: dec.step_batch(codes[:, :, i:i + 1]) for i in range(n_steps)]
        streaming[LAB] = {"encode_step": step_latency(enc_steps, harness.mlx_sync),
                          "decode_step": step_latency(dec_steps, harness.mlx_sync)}
        return Engine(LAB, "mlx", {"encode": lambda: model.encode_batch(x, n_q),
                                   "decode": lambda: model.decode_batch(codes)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: np.array(codes[:, 0]))

    def peer_engine() -> Engine:
        from mlx_audio.codec.models.mimi.mimi import Mimi, mimi_202407

        model = Mimi(mimi_202407(n_q))
        path = temp_folder(NAME + "-mlx-audio") / "tokenizer.safetensors"
        state = moshi_state(harness.torch_state(reference))
        mx.save_safetensors(str(path), {k: mx.array(v) for k, v in state.items()})
        model.load_pytorch_weights(str(path), strict=True)  # its own loader: renames, transposes, codebooks
        if ctx.dtype != "float32":
            model.set_dtype(ctx.mx_dtype)
        x = mx.array(audio)[None, None].astype(ctx.mx_dtype)  # (B, 1, T): its layout
        codes = model.encode(x)
        mx.eval(codes)
        model.reset_state()
        enc_steps = [lambda i=i: model.encode_step(x[..., i * frame:(i + 1) * frame]) for i in range(n_steps)]
        enc_latency = step_latency(enc_steps, harness.mlx_sync)
        model.reset_state()
        dec_steps = [lambda i=i: model.decode_step(codes[..., i:i + 1]) for i in range(n_steps)]
        streaming[PEER] = {"encode_step": enc_latency, "decode_step": step_latency(dec_steps, harness.mlx_sync)}
        return Engine(PEER, "mlx", {"encode": lambda: model.encode(x), "decode": lambda: model.decode(codes)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: np.array(codes[0]))

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    budget = frame / sr
    for rows in streaming.values():
        for row in rows.values():
            row["real_time_budget_s"] = budget
            row["fraction_of_budget"] = row["median_s"] / budget
    n = len(audio) / sr
    return codec_payload(ctx, NAME, reference, engines, n, {"encode": n, "decode": n}, errors,
                         extra={"num_quantizers": n_q, "frame_ms": 1000 * budget, "streaming": streaming})
