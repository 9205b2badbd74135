"""Whisper: encoder throughput, KV-cached greedy decode at batch 1, full 30 s window, peak memory.

Engines, same weights and inputs, runs interleaved: `mlx_audio_lab` (this port, through its HF key map and fill_model),
`torch` (transformers' WhisperForConditionalGeneration) and `mlx_audio` (mlx-audio 0.6.2's port, through its
own `sanitize`). whisper-tiny and whisper-large-v3-turbo use seeded random weights from the real configs;
whisper-tiny.en uses the bundled real weights. Decoding runs a fixed number of steps, ignoring end-of-text.
Options (--set): steps=N decode steps, decode_repeats=N, full=0|1 time a whole window (encoder + decode) as one
region (off for large models: the encoder's first run then measures peak memory and is the warm-up).
"""

from __future__ import annotations

from typing import Any

from .. import harness as h

PROMPT = [50258, 50259, 50359, 50363]  # start of transcript, language, task, no timestamps
WINDOW_S = 30.0


def _reference(name: str):
    """(transformers model in float32, its config dict, weights description)."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from mlx_audio_lab.fixtures import randomize_

    if name == "whisper-tiny.en":
        import json

        from mlx_audio_lab.models.stt.whisper.real import real_hf_folder

        folder = real_hf_folder()
        model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
        return model.eval(), json.loads((folder / "config.json").read_text()), "real weights (bundled tiny.en)"
    config = h.load_config(name)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**config)).eval()
    randomize_(model, seed=0, std=0.02, keep=("model.encoder.embed_positions.weight",))
    return model, config, "seeded random weights, real config"


def _mlx_port(state: dict, config: dict, dtype):
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.stt.whisper.config import WhisperConfig
    from mlx_audio_lab.models.stt.whisper.convert import HF
    from mlx_audio_lab.models.stt.whisper.model import Whisper

    return fill_model(Whisper(WhisperConfig.from_dict(config)), state, HF, config, "benchmark weights", dtype)


def _mlx_audio_port(state: dict, config: dict, dtype):
    import mlx.core as mx
    from mlx_audio.stt.models.whisper.whisper import Model, ModelDimensions

    model = Model(ModelDimensions.from_dict(config), dtype=dtype)
    weights = model.sanitize({k: mx.array(v) for k, v in state.items() if k != "proj_out.weight"})
    model.load_weights(list(weights.items()), strict=True)
    mx.eval(model.parameters())
    return model.eval()


def _mlx_engine(model, mel, steps: int) -> dict[str, Any]:
    """Encoder, decode-setup and decode callables for this port."""
    import mlx.core as mx

    def prefill():
        audio = model.embed_audio(mel)
        state = model.new_state()
        logits = model.logits(mx.array([PROMPT]), audio, state)
        mx.eval(logits, state.cross_attn, [(c.keys, c.values) for c in state.self_attn])
        return audio, state, logits

    def decode(args):
        audio, state, logits = args
        tokens = []
        for _ in range(steps):
            tok = mx.argmax(logits[:, -1], axis=-1)
            tokens.append(tok.item())
            logits = model.logits(tok[:, None], audio, state)
        return tokens

    return {"encode": lambda: model.embed_audio(mel), "prefill": prefill, "decode": decode,
            "full": lambda: decode(prefill())}


def _mlx_audio_engine(model, mel, steps: int) -> dict[str, Any]:
    """The same callables for mlx-audio's port (its decoder returns (logits, kv_cache, cross_qk))."""
    import mlx.core as mx

    def prefill():
        audio = model.encoder(mel)
        logits, kv, _ = model.decoder(mx.array([PROMPT]), audio)
        mx.eval(logits, kv)
        return audio, kv, logits

    def decode(args):
        audio, kv, logits = args
        tokens = []
        for _ in range(steps):
            tok = mx.argmax(logits[:, -1], axis=-1)
            tokens.append(tok.item())
            logits, kv, _ = model.decoder(tok[:, None], audio, kv)
        return tokens

    return {"encode": lambda: model.encoder(mel), "prefill": prefill, "decode": decode,
            "full": lambda: decode(prefill())}


def _torch_engine(model, mel, steps: int, device: str) -> dict[str, Any]:
    """The same callables for transformers: its decoder with an EncoderDecoderCache, then proj_out."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    prompt = torch.tensor([PROMPT], device=device)

    def forward(ids, audio, cache):
        out = model.model.decoder(input_ids=ids, encoder_hidden_states=audio, past_key_values=cache, use_cache=True)
        return model.proj_out(out.last_hidden_state[:, -1:])

    @torch.inference_mode()
    def encode():
        return model.model.encoder(mel).last_hidden_state

    @torch.inference_mode()
    def prefill():
        audio = encode()
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        return audio, cache, forward(prompt, audio, cache)

    @torch.inference_mode()
    def decode(args):
        audio, cache, logits = args
        tokens = []
        for _ in range(steps):
            tok = logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(tok.item()))
            logits = forward(tok, audio, cache)
        return tokens

    return {"encode": encode, "prefill": prefill, "decode": decode, "full": lambda: decode(prefill())}


def _decode_bytes(config: dict, dtype: str) -> float:
    """Bytes read per decode step: decoder blocks (minus cross-attention k/v projections, cached), the output
    projection (vocab x d), and the cached cross-attention keys/values of one window."""
    d, ffn, layers = config["d_model"], config["decoder_ffn_dim"], config["decoder_layers"]
    per_layer = 2 * (4 * d * d + 3 * d) + 2 * d * ffn + ffn + d + 6 * d  # self + cross (q, o), mlp, 3 norms
    cross_kv = 2 * layers * config["max_source_positions"] * d
    return (layers * per_layer + config["vocab_size"] * d + cross_kv) * h.dtype_bytes(dtype)


def _encoder_flops(config: dict) -> float:
    """Multiply-adds x 2 of one 30 s window through the encoder (convs, projections, attention, MLP)."""
    d, ffn, mels = config["d_model"], config["encoder_ffn_dim"], config["num_mel_bins"]
    n = config["max_source_positions"]
    convs = 2 * n * mels * d * 3 + n * d * d * 3
    layer = n * (4 * d * d + 2 * d * ffn) + 2 * n * n * d
    return 2 * (convs + config["encoder_layers"] * layer)


def run_whisper(name: str, ctx: h.Context) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.dsp import log_mel_spectrogram

    steps = ctx.option("steps", 16 if "large" in name else 32)
    ref, config, weights = _reference(name)
    state = h.torch_state(ref)
    port = _mlx_port(state, config, ctx.mx_dtype)
    engines_used = ["mlx_audio_lab", "torch"]
    try:
        peer = _mlx_audio_port(state, config, ctx.mx_dtype)
        engines_used.append("mlx_audio")
        peer_error = None
    except Exception as e:  # noqa: BLE001  (the peer is optional: record why it did not load)
        peer, peer_error = None, repr(e)
    del state
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)

    audio = h.synthetic_audio(WINDOW_S, 16000, seed=0)
    mel_np = np.array(log_mel_spectrogram(audio, n_mels=config["num_mel_bins"]))[None, :3000]  # (1, 3000, mels)
    mel = mx.array(mel_np).astype(ctx.mx_dtype)
    mel_t = torch.from_numpy(mel_np.transpose(0, 2, 1).copy()).to(ctx.torch_device, ctx.torch_dtype)

    eng = {"mlx_audio_lab": _mlx_engine(port, mel, steps), "torch": _torch_engine(ref, mel_t, steps, ctx.torch_device)}
    if peer is not None:
        eng["mlx_audio"] = _mlx_audio_engine(peer, mel, steps)
    tsync = h.torch_sync(ctx.torch_device)
    sync = {"mlx_audio_lab": h.mlx_sync, "torch": tsync, "mlx_audio": h.mlx_sync}
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)

    own = {"mlx_audio_lab": port, "torch": ref, "mlx_audio": peer}
    full_run = ctx.option("full", "large" not in name)
    memory = {}
    if not full_run:  # a large encoder: its first run measures the peak and serves as the warm-up
        memory = {k: h.peak_memory(e["encode"], "torch" if k == "torch" else "mlx", ctx, h.weights_mb(own[k]))
                  for k, e in eng.items()}
    encoder = h.compare({k: (e["encode"], sync[k]) for k, e in eng.items()},
                        warmup=0 if memory else ctx.warmup, repeats=ctx.repeats)
    decode = h.compare({k: (e["decode"], sync[k], e["prefill"]) for k, e in eng.items()}, warmup=ctx.warmup,
                       repeats=ctx.option("decode_repeats", ctx.repeats))
    tokens = {k: e["decode"](e["prefill"]()) for k, e in eng.items()}
    full = None
    if full_run:
        full = h.stage(h.compare({k: (e["full"], sync[k]) for k, e in eng.items()}, **r), WINDOW_S, "audio_s_per_s")

    bandwidth = h.measure_bandwidth(ctx.torch_device)["bandwidth_gbs"]
    peak_flops = h.measure_matmul_flops(ctx.torch_device, ctx.dtype)["flops"]
    step_bytes, enc_flops = _decode_bytes(config, ctx.dtype), _encoder_flops(config)
    enc = h.stage(encoder, WINDOW_S, "audio_s_per_s")
    dec = h.stage(decode, steps, "tokens_per_s")
    per_engine = {}
    for k, e in eng.items():
        step_s = decode[k]["median_s"] / steps
        per_engine[k] = {
            "rtf_full": (full[k]["median_s"] if full else encoder[k]["median_s"] + decode[k]["median_s"]) / WINDOW_S,
            "encoder_flops_fraction": enc_flops / encoder[k]["median_s"] / peak_flops,
            "decode_bandwidth_fraction": h.bandwidth_fraction(step_bytes, step_s, bandwidth),
            "memory": memory.get(k) or h.peak_memory(e["full"], "mlx" if k != "torch" else "torch", ctx,
                                                     h.weights_mb(own[k])),
            "tokens_agree_with_torch": float(np.mean(np.array(tokens[k]) == np.array(tokens["torch"]))),
        }
    summary = {k: h.summary_row(audio_s_per_s=enc[k]["audio_s_per_s"], tokens_per_s=dec[k]["tokens_per_s"],
                                rtf=per_engine[k]["rtf_full"], peak_mb=per_engine[k]["memory"]["peak_mb"],
                                vs_torch=per_engine["torch"]["rtf_full"] / per_engine[k]["rtf_full"],
                                note=f"30 s window, {steps} decode steps")
               for k in eng}
    return {
        "model": name, "family": "stt", "weights": weights, "summary": summary, "engines": engines_used,
        "peer_error": peer_error,
        **h.check_params(name, h.param_count(ref)),
        "input": {"audio_s": WINDOW_S, "audio": "seeded synthetic (tones + noise)", "prompt": PROMPT,
                  "decode_steps": steps, "decode": "greedy, KV cache, batch 1, host sync per token, EOS ignored"},
        "stages": {"encoder": enc, "decode": dec, **({"full": full} if full else {})},
        "rtf_method": "timed full window" if full else "encoder median + decode median (composed)",
        "memory_run": "a full window" if full else "the encoder's first run (the warm-up)",
        "limits": {"bandwidth_gbs": bandwidth, "peak_flops": peak_flops, "decode_bytes_per_step": step_bytes,
                   "encoder_flops": enc_flops, "decode_timing": "prefill excluded (untimed setup)"},
        "per_engine": per_engine,
    }


@h.register("whisper-tiny", "Whisper tiny (39M), random weights, real config: encoder, decode, 30 s window")
def whisper_tiny(ctx: h.Context) -> dict:
    return run_whisper("whisper-tiny", ctx)


@h.register("whisper-large-v3-turbo", "Whisper large-v3-turbo (809M), random weights, real config")
def whisper_large_v3_turbo(ctx: h.Context) -> dict:
    return run_whisper("whisper-large-v3-turbo", ctx)


@h.register("whisper-tiny.en", "Whisper tiny.en, the bundled real weights (pip asset)")
def whisper_tiny_en(ctx: h.Context) -> dict:
    return run_whisper("whisper-tiny.en", ctx)
