"""SNAC 24 kHz at its real size (seeded weights): encode and decode throughput, this port vs torch vs mlx-audio.

The reference is the `snac` package's SNAC built from benchmarks/configs/snac_24khz.json (weight-normed convs, as
the hub checkpoint loads), saved as the hub repo is laid out (config.json + pytorch_model.bin) and read back by
the port's `load_model`. mlx-audio's port keeps the same Sequential tree: the state dict is laid out as its
files hold it (`sequential_to_peer`). The decoder's noise is drawn fresh on every engine. Option: seconds=10.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .. import harness
from .codec_common import (
    LAB,
    PEER,
    TORCH,
    Engine,
    codec_payload,
    guarded,
    load_peer,
    mlx_params,
    seeded_weights_,
    sequential_to_peer,
    temp_folder,
    torch_engine_module,
)

NAME = "snac_24khz"


def seeded_reference(cfg: dict):
    """The `snac` package's SNAC from `cfg` with seeded weights, saved as the hub repo lays it out -> (it, folder)."""
    import torch
    from snac import SNAC

    torch.manual_seed(0)
    reference = SNAC(**cfg).eval()
    seeded_weights_(reference, seed=0, keep=("inv_freq",))
    folder = temp_folder(NAME)
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")
    return reference, folder


@harness.register(NAME, "SNAC 24 kHz, real size: encode/decode audio s per s; port vs torch vs mlx-audio")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch

    from mlx_audio_lab.models.codecs.snac.config import SnacConfig
    from mlx_audio_lab.models.codecs.snac.load import load_model

    seconds = ctx.option("seconds", 10.0)
    cfg = harness.load_config(NAME)
    sr, pad = cfg["sampling_rate"], SnacConfig.from_dict(cfg).pad_multiple
    audio = harness.synthetic_audio(seconds, sr, seed=0)
    audio = np.pad(audio, (0, -len(audio) % pad))  # SNAC's own padding, done once for every engine
    errors: dict[str, str] = {}

    reference, folder = seeded_reference(cfg)

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.from_numpy(audio)[None, None].to(ctx.torch_device, ctx.torch_dtype)
        with torch.inference_mode():
            codes = model.encode(x)

        def encode():
            with torch.inference_mode():
                return model.encode(x)

        def decode():
            with torch.inference_mode():
                return model.decode(codes)

        return Engine(TORCH, "torch", {"encode": encode, "decode": decode}, harness.torch_sync(ctx.torch_device),
                      harness.weights_mb(model), codes=lambda: [c[0].cpu().numpy() for c in codes])

    def lab_engine() -> Engine:
        model = load_model(folder, dtype=ctx.mx_dtype)
        x = mx.array(audio)[None, :, None].astype(ctx.mx_dtype)
        codes = model.encode_batch(x)
        mx.eval(codes)
        return Engine(LAB, "mlx", {"encode": lambda: model.encode_batch(x),
                                   "decode": lambda: model.decode_batch(codes)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: [np.array(c[0]) for c in codes])

    def peer_engine() -> Engine:
        from mlx_audio.codec.models.snac.snac import SNAC as PeerSNAC

        model = PeerSNAC(**cfg)
        load_peer(model, sequential_to_peer(harness.torch_state(reference), mlx_params(model)), ctx.mx_dtype)
        x = mx.array(audio)[None, None].astype(ctx.mx_dtype)  # (B, 1, T): its layout
        codes = model.encode(x)
        mx.eval(codes)
        return Engine(PEER, "mlx", {"encode": lambda: model.encode(x), "decode": lambda: model.decode(codes)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: [np.array(c[0]) for c in codes])

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    hop = math.prod(cfg["encoder_rates"])
    return codec_payload(ctx, NAME, reference, engines, len(audio) / sr,
                         {"encode": len(audio) / sr, "decode": len(audio) / sr}, errors,
                         extra={"code_rates_hz": [sr / hop / s for s in cfg["vq_strides"]]})
