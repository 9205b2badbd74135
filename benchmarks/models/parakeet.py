"""parakeet-tdt-0.6b-v2: FastConformer encoder throughput and greedy TDT decoding, peak memory.

Engines, same seeded random weights from the real config, same log-mel features, runs interleaved: `mlx_audio_lab`
(this port through its HF key map and fill_model; `transducer_greedy`), `torch` (transformers' ParakeetForTDT and its
`generate`, labels chosen among labels only as NeMo does) and `mlx_audio` (mlx-audio 0.6.2's ParakeetTDT,
loaded by its own loader from the folder this port's `export_mlx_community` writes). Decode time = full -
encoder (medians). Option (--set): seconds=30.
"""

from __future__ import annotations

from .. import harness as h

NAME = "parakeet-tdt-0.6b-v2"


def _reference(config: dict):
    import torch
    import transformers

    from mlx_audio_lab.fixtures import randomize_

    torch.manual_seed(0)
    model = transformers.ParakeetForTDT(transformers.ParakeetTDTConfig(**config)).eval()
    randomize_(model, seed=0, std=0.02)
    model.generation_config.decoder_start_token_id = config["blank_token_id"]  # as the released model's
    return model


def _mlx_port(state: dict, config: dict, dtype):
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.stt.parakeet.config import ParakeetConfig
    from mlx_audio_lab.models.stt.parakeet.convert import HF
    from mlx_audio_lab.models.stt.parakeet.model import Parakeet

    return fill_model(Parakeet(ParakeetConfig.from_dict(config)), state, HF, config, "benchmark weights", dtype)


def _mlx_audio_port(port, folder):
    from mlx_audio.stt.utils import load_model

    from mlx_audio_lab.models.stt.parakeet.load import export_mlx_community

    return load_model(export_mlx_community(port, folder), strict=True)


def run(ctx: h.Context) -> dict:
    import tempfile

    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.models.stt.parakeet.decoding import transducer_greedy
    from mlx_audio_lab.models.stt.parakeet.features import log_mel
    from mlx_audio_lab.models.stt.parakeet.reference import TokensOnly

    config = h.load_config(NAME)
    ref = _reference(config)
    state = h.torch_state(ref)
    port = _mlx_port(state, config, ctx.mx_dtype)
    del state
    tmp = tempfile.TemporaryDirectory(prefix="bench-parakeet-")
    try:
        peer, peer_error = _mlx_audio_port(port, tmp.name), None
    except Exception as e:  # noqa: BLE001  (the peer is optional: record why it did not load)
        peer, peer_error = None, repr(e)
    tmp.cleanup()
    ref = ref.to(device=ctx.torch_device, dtype=ctx.torch_dtype)
    seconds = ctx.option("seconds", 30.0)
    feats, n = log_mel(h.synthetic_audio(seconds, 16000, seed=0), port.config.front_end)
    feats = mx.array(feats)[None]  # (1, frames, mels)
    x = feats.astype(ctx.mx_dtype)
    xt = torch.from_numpy(np.array(feats)).to(ctx.torch_device, ctx.torch_dtype)
    # the valid frames only, as the feature extractor's mask gives them (the port decodes `n` frames): a mask of
    # ones over every STFT frame gave the reference one more encoder frame (376 vs 375 on 30 s), one more label
    mask = (torch.arange(xt.shape[1], device=ctx.torch_device) < n).long()[None]
    tokens_only = [TokensOnly(config["vocab_size"])]

    def mlx_encode():
        return port.encode(x, mx.array([n]))

    def mlx_full():
        enc, lengths = mlx_encode()
        return transducer_greedy(port, enc[0], int(lengths[0].item())).tokens

    def torch_encode():
        with torch.inference_mode():
            return ref.get_audio_features(input_features=xt, attention_mask=mask).pooler_output

    def torch_full():
        from transformers import LogitsProcessorList

        with torch.inference_mode():
            return ref.generate(input_features=xt, attention_mask=mask,
                                logits_processor=LogitsProcessorList(tokens_only)).sequences[0].tolist()

    tsync = h.torch_sync(ctx.torch_device)
    enc = {"mlx_audio_lab": (mlx_encode, h.mlx_sync), "torch": (torch_encode, tsync)}
    full = {"mlx_audio_lab": (mlx_full, h.mlx_sync), "torch": (torch_full, tsync)}
    if peer is not None:  # it takes no lengths: the valid frames only, as the others decode
        xv = x[:, :n]
        enc["mlx_audio"] = (lambda: peer.encoder(xv), h.mlx_sync)
        full["mlx_audio"] = (lambda: [t.id for s in peer.decode(xv)[0].sentences for t in s.tokens], h.mlx_sync)
    r = dict(warmup=ctx.warmup, repeats=ctx.repeats)
    enc_t = h.compare(enc, **r)
    full_t = h.compare(full, **r)
    steps = {k: fn() for k, (fn, _s) in full.items()}
    blank = config["blank_token_id"]
    emitted = {k: [t for t in v if t != blank] for k, v in steps.items()}
    own = {"mlx_audio_lab": port, "torch": ref, "mlx_audio": peer}
    per_engine = {}
    for k in full:
        decode_s = full_t[k]["median_s"] - enc_t[k]["median_s"]  # None below the timing noise
        decode_s = decode_s if decode_s > 0.02 * full_t[k]["median_s"] else None
        per_engine[k] = {
            "rtf_full": full_t[k]["median_s"] / seconds, "decode_s": decode_s, "emitted_tokens": len(emitted[k]),
            "emitted_tokens_per_s": len(emitted[k]) / decode_s if decode_s else None,
            "same_tokens_as_torch": emitted[k] == emitted["torch"],
            "memory": h.peak_memory(full[k][0], "torch" if k == "torch" else "mlx", ctx, h.weights_mb(own[k])),
        }
    stages = {"encoder": h.stage(enc_t, seconds, "audio_s_per_s"), "full": h.stage(full_t, seconds, "audio_s_per_s")}
    summary = {k: h.summary_row(audio_s_per_s=stages["encoder"][k]["audio_s_per_s"],
                                tokens_per_s=per_engine[k]["emitted_tokens_per_s"], rtf=per_engine[k]["rtf_full"],
                                peak_mb=per_engine[k]["memory"]["peak_mb"], vs_torch=stages["full"][k]["vs_torch"],
                                note=f"{seconds:g} s, greedy TDT (tokens/s: emitted labels per decode second)")
               for k in full}
    return {
        "model": NAME, "family": "stt", "weights": "seeded random weights, real config", "summary": summary,
        "engines": list(full), "peer_error": peer_error, **h.check_params(NAME, h.param_count(ref)),
        "input": {"audio_s": seconds, "audio": "seeded synthetic (tones + noise)", "frames": n,
                  "decode": "greedy TDT, batch 1, label argmax among labels only"},
        "stages": stages,
        "rtf_method": "timed full utterance (features given)", "per_engine": per_engine,
    }


h.register(NAME, "Parakeet TDT 0.6B v2, random weights, real config: encoder + greedy TDT on 30 s")(run)
