"""EnCodec 24 kHz at its real size (seeded weights): encode and decode throughput, this port vs torch vs mlx-audio.

The reference is transformers' EncodecModel built from benchmarks/configs/encodec_24khz.json; it is saved in the
Hugging Face layout and read back by the port's `load_model` (the project's converter). mlx-audio's port loads
the mlx-community layout (its `from_pretrained` on a folder), written here from the port's converted weights.
Options: `--set seconds=10 bandwidth=6.0`.
"""

from __future__ import annotations

import json
import re

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
    load_peer,
    mlx_params,
    temp_folder,
    torch_engine_module,
)

NAME = "encodec_24khz"
# The port's LSTM names -> mlx-audio's (one fused bias: torch adds bias_ih and bias_hh).
_LSTM = re.compile(r"(.*\.lstm)\.(weight|bias)_(ih|hh)_l(\d+)$")


def peer_weights(lab: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The port's MLX parameters in mlx-audio's (mlx-community) layout: LSTM renamed and biases summed."""
    out: dict[str, np.ndarray] = {}
    for k, v in lab.items():
        m = _LSTM.match(k)
        if not m:
            out[k] = v
            continue
        base, kind, gate, layer = m.groups()
        if kind == "weight":
            out[f"{base}.{layer}.{'Wx' if gate == 'ih' else 'Wh'}"] = v
        else:
            key = f"{base}.{layer}.bias"
            out[key] = out.get(key, 0) + v
    return out


@harness.register(NAME, "EnCodec 24 kHz, real size: encode/decode audio s per s; port vs torch vs mlx-audio")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch
    from transformers import EncodecConfig, EncodecModel

    from mlx_audio_lab.models.codecs.encodec.load import load_model

    seconds = ctx.option("seconds", 10.0)
    bandwidth = ctx.option("bandwidth", 6.0)
    cfg = harness.load_config(NAME)
    sr = cfg["sampling_rate"]
    audio = harness.synthetic_audio(seconds, sr, seed=0)
    errors: dict[str, str] = {}

    reference, folder = hf_reference(EncodecModel, EncodecConfig, cfg, NAME)

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.from_numpy(audio)[None, None].to(ctx.torch_device, ctx.torch_dtype)
        with torch.inference_mode():
            enc = model.encode(x, bandwidth=bandwidth)
        codes, scales = enc.audio_codes, enc.audio_scales

        def encode():
            with torch.inference_mode():
                return model.encode(x, bandwidth=bandwidth).audio_codes

        def decode():
            with torch.inference_mode():
                return model.decode(codes, scales).audio_values

        return Engine(TORCH, "torch", {"encode": encode, "decode": decode}, harness.torch_sync(ctx.torch_device),
                      harness.weights_mb(model), codes=lambda: codes[0, 0].cpu().numpy())

    def lab_engine() -> Engine:
        model = load_model(folder, dtype=ctx.mx_dtype)
        x = mx.array(audio)[None, :, None].astype(ctx.mx_dtype)
        n_q = model.num_codebooks(bandwidth)
        codes = model.quantizer.encode(model.encoder(x), n_q)
        mx.eval(codes)
        return Engine(LAB, "mlx", {"encode": lambda: model.encode_batch(x, bandwidth),
                                   "decode": lambda: model.decode_batch(codes)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: np.array(codes[:, 0]))

    def peer_engine() -> Engine:
        from mlx_audio.codec.models.encodec.encodec import Encodec

        lab = load_model(folder)
        peer_folder = temp_folder(NAME + "-mlx-audio")
        mx.save_safetensors(str(peer_folder / "model.safetensors"),
                            {k: mx.array(v) for k, v in peer_weights(mlx_params(lab)).items()})
        (peer_folder / "config.json").write_text(json.dumps(cfg))
        model, _ = Encodec.from_pretrained(str(peer_folder))  # its own loader (load_weights), float32 files
        load_peer(model, mlx_params(model), ctx.mx_dtype)  # then cast, as its bf16 repos hold
        x = mx.array(audio)[None, :, None].astype(ctx.mx_dtype)
        codes, scales = model.encode(x, bandwidth=bandwidth)
        mx.eval(codes)
        return Engine(PEER, "mlx", {"encode": lambda: model.encode(x, bandwidth=bandwidth)[0],
                                    "decode": lambda: model.decode(codes, scales)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: np.array(codes[0, 0]))

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    return codec_payload(ctx, NAME, reference, engines, seconds, {"encode": seconds, "decode": seconds}, errors,
                         extra={"bandwidth_kbps": bandwidth,
                                "torch_weight_norm": "parametrizations kept (recomputed per call, as loaded)"})
