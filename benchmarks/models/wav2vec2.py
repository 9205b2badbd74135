"""wav2vec2-base CTC: throughput of the whole forward pass (conv front end, transformer, CTC head, best path)
on 10 s and 30 s of audio, and peak memory.

Engines, same seeded random weights from the real config, runs interleaved: `mlx_audio_lab` (this port: key map,
positional weight-norm folding and fill_model), `torch` (transformers' Wav2Vec2ForCTC) and `mlx_audio`
(mlx-audio 0.6.2's Wav2Vec2Model through its own `sanitize`; it has no CTC head, so its region stops at the
encoder output, a 768 x 32 projection short of the others). Option (--set): seconds=10,30.
"""

from __future__ import annotations

from .. import harness as h

NAME = "wav2vec2-base"


def _reference(config: dict):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    from mlx_audio_lab.fixtures import randomize_

    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**config)).eval()
    randomize_(model, seed=0, std=0.02)
    return model


def _mlx_port(state: dict, config: dict, dtype):
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.stt.wav2vec2.config import Wav2Vec2Config
    from mlx_audio_lab.models.stt.wav2vec2.convert import HF, fold_positional_weight_norm
    from mlx_audio_lab.models.stt.wav2vec2.model import Wav2Vec2ForCTC

    model = Wav2Vec2ForCTC(Wav2Vec2Config.from_dict(config))
    return fill_model(model, fold_positional_weight_norm(state), HF, config, "benchmark weights", dtype)


def _mlx_audio_port(state: dict, config: dict, dtype):
    import mlx.core as mx
    from mlx.utils import tree_map
    from mlx_audio.stt.models.wav2vec.wav2vec import ModelConfig, Wav2Vec2Model

    model = Wav2Vec2Model(ModelConfig.from_dict(config))
    model.load_weights(list(model.sanitize({k: mx.array(v) for k, v in state.items()}).items()), strict=True)
    model.update(tree_map(lambda p: p.astype(dtype) if mx.issubdtype(p.dtype, mx.floating) else p,
                          model.parameters()))
    mx.eval(model.parameters())
    return model.eval()


def _flops(config: dict, samples: int) -> float:
    """Multiply-adds x 2 of one forward pass: conv front end, positional conv, transformer layers, CTC head."""
    total, t, c_in = 0, samples, 1
    for c_out, k, s in zip(config["conv_dim"], config["conv_kernel"], config["conv_stride"]):
        t = (t - k) // s + 1
        total += t * c_in * k * c_out
        c_in = c_out
    d, ffn = config["hidden_size"], config["intermediate_size"]
    total += t * c_in * d  # feature projection
    total += t * d * (d // config["num_conv_pos_embedding_groups"]) * config["num_conv_pos_embeddings"]
    total += config["num_hidden_layers"] * (t * (4 * d * d + 2 * d * ffn) + 2 * t * t * d)
    return 2 * (total + t * d * config["vocab_size"])


def _engines(port, ref, peer, x, xt, tsync) -> dict:
    """(fn, sync) per engine: CTC logits and best path on one input (mlx_audio: its encoder output)."""
    import mlx.core as mx
    import torch

    def torch_ctc():
        with torch.inference_mode():
            return ref(xt).logits.argmax(-1)

    eng = {"mlx_audio_lab": (lambda: mx.argmax(port(x), axis=-1), h.mlx_sync), "torch": (torch_ctc, tsync)}
    if peer is not None:
        eng["mlx_audio"] = (lambda: peer(x, output_hidden_states=False).last_hidden_state, h.mlx_sync)
    return eng


def run(ctx: h.Context) -> dict:
    import mlx.core as mx
    import numpy as np
    import torch

    config = h.load_config(NAME)
    ref = _reference(config)
    state = h.torch_state(ref)
    port = _mlx_port(state, config, ctx.mx_dtype)
    try:
        peer, peer_error = _mlx_audio_port(state, config, ctx.mx_dtype), None
    except Exception as e:  # noqa: BLE001  (the peer is optional: record why it did not load)
        peer, peer_error = None, repr(e)
    del state
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    peak_flops = h.measure_matmul_flops(ctx.torch_device, ctx.dtype)["flops"]
    own = {"mlx_audio_lab": port, "torch": ref, "mlx_audio": peer}

    stages, per_engine = {}, {}
    for seconds in [float(s) for s in str(ctx.option("seconds", "10,30")).split(",")]:
        audio = h.synthetic_audio(seconds, 16000, seed=0)
        audio = (audio - audio.mean()) / (audio.std() + 1e-7)  # the feature extractor's normalization
        x = mx.array(audio[None]).astype(ctx.mx_dtype)
        xt = torch.from_numpy(audio[None]).to(ctx.torch_device, ctx.torch_dtype)

        eng = _engines(port, ref, peer, x, xt, h.torch_sync(ctx.torch_device))
        key = f"ctc_{seconds:g}s"
        stages[key] = h.stage(h.compare(eng, warmup=ctx.warmup, repeats=ctx.repeats), seconds, "audio_s_per_s")
        paths = {"mlx_audio_lab": np.array(eng["mlx_audio_lab"][0]()), "torch": eng["torch"][0]().cpu().numpy()}
        flops = _flops(config, len(audio))
        per_engine[key] = {
            k: {"rtf": stages[key][k]["median_s"] / seconds,
                "flops_fraction": flops / stages[key][k]["median_s"] / peak_flops,
                "memory": h.peak_memory(fn, "torch" if k == "torch" else "mlx", ctx, h.weights_mb(own[k]))}
            for k, (fn, _s) in eng.items()}
        agree = float(np.mean(paths["mlx_audio_lab"] == paths["torch"]))
        per_engine[key]["mlx_audio_lab"]["ctc_path_agrees_with_torch"] = agree
        per_engine[key]["flops"] = flops
    summary = {k: h.summary_row(audio_s_per_s=v["audio_s_per_s"], rtf=per_engine[key][k]["rtf"],
                                peak_mb=per_engine[key][k]["memory"]["peak_mb"], vs_torch=v["vs_torch"],
                                note=f"CTC forward on {key[4:]}" + (" (no CTC head)" if k == "mlx_audio" else ""))
               for k, v in stages[key].items()}  # the longest input
    return {
        "model": NAME, "family": "stt", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(own) if peer is not None else ["mlx_audio_lab", "torch"], "peer_error": peer_error,
        "peer_note": "mlx_audio's Wav2Vec2Model has no CTC head: timed to the encoder output",
        **h.check_params(NAME, h.param_count(ref)),
        "input": {"audio": "seeded synthetic (tones + noise), normalized", "batch": 1},
        "stages": stages, "limits": {"peak_flops": peak_flops}, "per_engine": per_engine,
    }


h.register(NAME, "wav2vec2-base CTC (95M), random weights, real config: 10 s and 30 s forward + best path")(run)
