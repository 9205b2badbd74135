"""DAC 44 kHz at its real size (seeded weights): encode and decode throughput, this port vs torch vs mlx-audio.

The reference is transformers' DacModel from benchmarks/configs/dac_44khz.json (plain convs, as the converted
hub checkpoint loads), saved in the Hugging Face layout and read back by the port's `load_model`. mlx-audio's
port keeps descript's original module tree and weight norm: the reference's state dict is renamed to descript's
names (`descript_name`), then laid out as mlx-audio's files hold it (`sequential_to_peer`). Option: seconds=10.
"""

from __future__ import annotations

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
    sequential_to_peer,
    torch_engine_module,
)

NAME = "dac_44khz"
_UNIT = {"snake1": 0, "conv1": 1, "snake2": 2, "conv2": 3}  # a residual unit's Sequential


def descript_name(key: str, n_blocks: int) -> str:
    """transformers' DacModel key -> descript's original (Sequential) key, e.g. `encoder.block.0.conv1` ->
    `encoder.block.1.block.4` (the first conv takes index 0 of the encoder's Sequential)."""
    rules: list[tuple[str, object]] = [
        (r"^encoder\.conv1\.", lambda m: "encoder.block.0."),
        (r"^encoder\.block\.(\d+)\.res_unit(\d)\.(\w+?)\.",
         lambda m: f"encoder.block.{int(m[1]) + 1}.block.{int(m[2]) - 1}.block.{_UNIT[m[3]]}."),
        (r"^encoder\.block\.(\d+)\.snake1\.", lambda m: f"encoder.block.{int(m[1]) + 1}.block.3."),
        (r"^encoder\.block\.(\d+)\.conv1\.", lambda m: f"encoder.block.{int(m[1]) + 1}.block.4."),
        (r"^encoder\.snake1\.", lambda m: f"encoder.block.{n_blocks + 1}."),
        (r"^encoder\.conv2\.", lambda m: f"encoder.block.{n_blocks + 2}."),
        (r"^decoder\.conv1\.", lambda m: "decoder.model.0."),
        (r"^decoder\.block\.(\d+)\.snake1\.", lambda m: f"decoder.model.{int(m[1]) + 1}.block.0."),
        (r"^decoder\.block\.(\d+)\.conv_t1\.", lambda m: f"decoder.model.{int(m[1]) + 1}.block.1."),
        (r"^decoder\.block\.(\d+)\.res_unit(\d)\.(\w+?)\.",
         lambda m: f"decoder.model.{int(m[1]) + 1}.block.{int(m[2]) + 1}.block.{_UNIT[m[3]]}."),
        (r"^decoder\.snake1\.", lambda m: f"decoder.model.{n_blocks + 1}."),
        (r"^decoder\.conv2\.", lambda m: f"decoder.model.{n_blocks + 2}."),
    ]
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


@harness.register(NAME, "DAC 44 kHz, real size: encode/decode audio s per s; port vs torch vs mlx-audio")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch
    from transformers import DacConfig, DacModel

    from mlx_audio_lab.models.codecs.dac.load import load_model

    seconds = ctx.option("seconds", 10.0)
    cfg = harness.load_config(NAME)
    sr, hop = cfg["sampling_rate"], int(np.prod(cfg["downsampling_ratios"]))
    audio = harness.synthetic_audio(seconds, sr, seed=0)
    audio = np.pad(audio, (0, -len(audio) % hop))  # whole frames, as every engine pads
    errors: dict[str, str] = {}

    reference, folder = hf_reference(DacModel, DacConfig, cfg, NAME)

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.from_numpy(audio)[None, None].to(ctx.torch_device, ctx.torch_dtype)
        with torch.inference_mode():
            codes = model.encode(x).audio_codes

        def encode():
            with torch.inference_mode():
                return model.encode(x).audio_codes

        def decode():
            with torch.inference_mode():
                return model.decode(audio_codes=codes).audio_values

        return Engine(TORCH, "torch", {"encode": encode, "decode": decode}, harness.torch_sync(ctx.torch_device),
                      harness.weights_mb(model), codes=lambda: codes[0].cpu().numpy())

    def lab_engine() -> Engine:
        model = load_model(folder, dtype=ctx.mx_dtype)
        x = mx.array(audio)[None, :, None].astype(ctx.mx_dtype)
        codes = model.encode_batch(x)
        mx.eval(codes)
        return Engine(LAB, "mlx", {"encode": lambda: model.encode_batch(x),
                                   "decode": lambda: model.decode_batch(codes)},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: np.array(codes[:, 0]))

    def peer_engine() -> Engine:
        from mlx_audio.codec.models.descript.dac import DAC

        model = DAC(encoder_dim=cfg["encoder_hidden_size"], encoder_rates=cfg["downsampling_ratios"],
                    decoder_dim=cfg["decoder_hidden_size"], decoder_rates=cfg["upsampling_ratios"],
                    n_codebooks=cfg["n_codebooks"], codebook_size=cfg["codebook_size"],
                    codebook_dim=cfg["codebook_dim"], sample_rate=sr)
        n = len(cfg["downsampling_ratios"])
        state = {descript_name(k, n): v for k, v in harness.torch_state(reference).items()}
        load_peer(model, sequential_to_peer(state, mlx_params(model)), ctx.mx_dtype)
        x = mx.array(audio)[None, None].astype(ctx.mx_dtype)  # (B, 1, T): its layout
        codes = model.encode(x)[1]
        mx.eval(codes)
        return Engine(PEER, "mlx", {"encode": lambda: model.encode(x)[1],
                                    "decode": lambda: model.decode(model.quantizer.from_codes(codes)[0])},
                      harness.mlx_sync, harness.weights_mb(model), codes=lambda: np.array(codes[0]))

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    return codec_payload(ctx, NAME, reference, engines, len(audio) / sr,
                         {"encode": len(audio) / sr, "decode": len(audio) / sr}, errors,
                         extra={"n_codebooks": cfg["n_codebooks"]})
