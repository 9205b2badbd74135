"""BigVGAN-v2 at its real size (seeded weights): mel -> waveform throughput, this port vs torch vs mlx-audio.

The reference is the `bigvgan` package's generator (torch anti-aliasing, `use_cuda_kernel=False`) built from
benchmarks/configs/bigvgan_v2_*.json (the hub repos' config.json), saved as those repos are laid out
(config.json + bigvgan_generator.pt holding `{"generator": state_dict}`, weight norm kept) and read back by the
port's `load_model`. mlx-audio's port takes the same state dict through its own `sanitize`. The input is the
reference's log-mel of seeded synthetic audio. Options: seconds=10; width=N overrides upsample_initial_channel
(a quick check at a tiny size: the parameter count then no longer matches the published one).
"""

from __future__ import annotations

import json
import math

from .. import harness
from .codec_common import (
    LAB,
    PEER,
    TORCH,
    Engine,
    codec_payload,
    guarded,
    load_peer,
    seeded_weights_,
    temp_folder,
    torch_engine_module,
)

CONFIGS = ("bigvgan_v2_24khz_100band_256x", "bigvgan_v2_22khz_80band_256x")


def _run(name: str, ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch

    from mlx_audio_lab.models.codecs.bigvgan.load import load_model
    from mlx_audio_lab.models.codecs.bigvgan.reference import generator_from_config, reference_mel

    seconds = ctx.option("seconds", 10.0)
    cfg = harness.load_config(name)
    width = ctx.option("width", 0)
    if width:
        if width % 2 ** len(cfg["upsample_rates"]):
            raise ValueError(f"width={width}: halved at each of {len(cfg['upsample_rates'])} stages, it must be a "
                             f"multiple of {2 ** len(cfg['upsample_rates'])}")
        cfg["upsample_initial_channel"] = width
    sr = cfg["sampling_rate"]
    mel = reference_mel(cfg, harness.synthetic_audio(seconds, sr, seed=0))  # (n_mels, frames)
    n_samples = mel.shape[1] * math.prod(cfg["upsample_rates"])
    errors: dict[str, str] = {}

    torch.manual_seed(0)
    reference = generator_from_config(cfg).eval()
    seeded_weights_(reference, seed=0, keep=("filter",))  # the low-pass taps stay as built
    folder = temp_folder(name)
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save({"generator": reference.state_dict()}, folder / "bigvgan_generator.pt")

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.from_numpy(mel)[None].to(ctx.torch_device, ctx.torch_dtype)

        def decode():
            with torch.inference_mode():
                return model(x)

        return Engine(TORCH, "torch", {"decode": decode}, harness.torch_sync(ctx.torch_device),
                      harness.weights_mb(model))

    def lab_engine() -> Engine:
        model = load_model(folder, dtype=ctx.mx_dtype)
        x = mx.array(mel.T)[None].astype(ctx.mx_dtype)  # (B, frames, n_mels)
        return Engine(LAB, "mlx", {"decode": lambda: model.decode_batch(x)}, harness.mlx_sync,
                      harness.weights_mb(model))

    def peer_engine() -> Engine:
        from mlx_audio.codec.models.bigvgan.bigvgan import BigVGAN, BigVGANConfig

        fields = BigVGANConfig.__dataclass_fields__
        model = BigVGAN(BigVGANConfig(**{k: v for k, v in cfg.items() if k in fields}))
        state = {k: mx.array(v) for k, v in harness.torch_state(reference).items()}
        load_peer(model, model.sanitize(state), ctx.mx_dtype)
        x = mx.array(mel)[None].astype(ctx.mx_dtype)  # (B, n_mels, frames): its layout
        return Engine(PEER, "mlx", {"decode": lambda: model(x)}, harness.mlx_sync, harness.weights_mb(model))

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    audio_s = n_samples / sr
    return codec_payload(ctx, name, reference, engines, audio_s, {"decode": audio_s}, errors,
                         extra={"mel_frames": mel.shape[1], "upsample_initial_channel": cfg["upsample_initial_channel"],
                                "input_kind": "reference log-mel of harness.synthetic_audio"},
                         headline=("decode",))


for _name in CONFIGS:
    harness.register(_name, f"BigVGAN-v2 {_name.split('_')[2]} {_name.split('_')[3]}, real size: mel -> audio s "
                            "per s; port vs torch vs mlx-audio")(lambda ctx, _name=_name: _run(_name, ctx))
