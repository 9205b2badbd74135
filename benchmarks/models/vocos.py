"""Vocos mel 24 kHz at its real size (seeded weights): mel features and vocoder decode throughput.

The reference is the upstream `vocos` Vocos (through the port's `torch_shim` where torchaudio is missing) built
from benchmarks/configs/vocos_mel_24khz.json (charactr's config.yaml as JSON), saved as charactr's repo is laid
out (config.yaml + pytorch_model.bin) and read back by the port's `load_model`. mlx-audio's port reads the same
state dict as model.safetensors through its own `Vocos.from_pretrained(folder)`. Option: seconds=10.
"""

from __future__ import annotations

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
    temp_folder,
    torch_engine_module,
)

NAME = "vocos_mel_24khz"


@harness.register(NAME, "Vocos mel 24 kHz, real size: mel + vocoder audio s per s; port vs torch vs mlx-audio")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch
    import yaml

    from mlx_audio_lab.models.codecs.vocos.load import load_model
    from mlx_audio_lab.models.codecs.vocos.torch_shim import import_vocos

    seconds = ctx.option("seconds", 10.0)
    cfg = harness.load_config(NAME)
    sr = cfg["feature_extractor"]["init_args"]["sample_rate"]
    audio = harness.synthetic_audio(seconds, sr, seed=0)
    errors: dict[str, str] = {}

    vocos, _ = import_vocos()
    folder = temp_folder(NAME)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    torch.manual_seed(0)
    reference = vocos.Vocos.from_hparams(str(folder / "config.yaml")).eval()
    seeded_weights_(reference.backbone, seed=0)  # the mel filters and windows stay as built
    seeded_weights_(reference.head.out, seed=1)
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.from_numpy(audio)[None].to(ctx.torch_device, ctx.torch_dtype)
        with torch.inference_mode():
            feats = model.feature_extractor(x)

        def features():
            with torch.inference_mode():
                return model.feature_extractor(x)

        def decode():
            with torch.inference_mode():
                return model.decode(feats)

        return Engine(TORCH, "torch", {"features": features, "decode": decode},
                      harness.torch_sync(ctx.torch_device), harness.weights_mb(model))

    def lab_engine() -> Engine:
        model = load_model(folder, dtype=ctx.mx_dtype)
        x = mx.array(audio)[None]
        feats = model.feature_extractor(x)
        mx.eval(feats)
        return Engine(LAB, "mlx", {"features": lambda: model.feature_extractor(x),
                                   "decode": lambda: model.decode_batch(feats)},
                      harness.mlx_sync, harness.weights_mb(model))

    def peer_engine() -> Engine:
        from mlx_audio.codec.models.vocos.vocos import Vocos

        peer_folder = temp_folder(NAME + "-mlx-audio")
        (peer_folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        mx.save_safetensors(str(peer_folder / "model.safetensors"),
                            {k: mx.array(v) for k, v in harness.torch_state(reference).items()})
        model = Vocos.from_pretrained(str(peer_folder))  # its own loader and transposes
        load_peer(model, mlx_params(model), ctx.mx_dtype)
        x = mx.array(audio)
        feats = model.feature_extractor(x)
        mx.eval(feats)
        return Engine(PEER, "mlx", {"features": lambda: model.feature_extractor(x),
                                    "decode": lambda: model.decode(feats[None] if feats.ndim == 2 else feats)},
                      harness.mlx_sync, harness.weights_mb(model))

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    n = len(audio) / sr
    return codec_payload(ctx, NAME, reference, engines, n, {"features": n, "decode": n}, errors,
                         extra={"hop_length": cfg["head"]["init_args"]["hop_length"]}, headline=("decode",))

