"""S3TokenizerV2 (speech_tokenizer_v2_25hz) at its real size (seeded weights): log-mel and mel -> tokens throughput,
this port vs torch (`s3tokenizer`) vs mlx-audio's `codec.models.s3`.

The reference is `s3tokenizer.model_v2.S3TokenizerV2` built from benchmarks/configs/speech_tokenizer_v2_25hz.json,
saved as `init_from_pt` reads it and loaded back by the port's `load_model`; mlx-audio's port takes the same state
dict through its own `sanitize`. Every engine tokenizes the same log-mel (the port's). Options: seconds=10,
size=real|tiny (tiny: the test fixture's sizes, for a quick check that the script runs).
"""

from __future__ import annotations

import json

import numpy as np

from .. import harness
from .codec_common import LAB, PEER, TORCH, Engine, codec_payload, guarded, seeded_weights_, temp_folder

NAME = "speech_tokenizer_v2_25hz"


def _config(ctx: harness.Context) -> dict:
    from mlx_audio_lab.models.codecs.s3_tokenizer.reference import SIZES

    size = ctx.option("size", "real")
    return harness.load_config(NAME) if size == "real" else dict(SIZES[size])


@harness.register("s3_tokenizer", "S3 tokenizer v2, real size: log-mel and mel -> 25 Hz tokens, audio s per s")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch
    from s3tokenizer import log_mel_spectrogram
    from s3tokenizer.model_v2 import ModelConfig, S3TokenizerV2

    from mlx_audio_lab.models.codecs.s3_tokenizer.load import WEIGHTS, load_model

    seconds = float(ctx.option("seconds", 10.0))
    cfg = _config(ctx)
    audio = harness.synthetic_audio(seconds, 16_000, seed=0)
    errors: dict[str, str] = {}

    torch.manual_seed(0)
    reference = S3TokenizerV2(NAME, ModelConfig(**cfg)).eval()
    seeded_weights_(reference, seed=0)
    folder = temp_folder(NAME)
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save(reference.state_dict(), folder / WEIGHTS)
    lab = load_model(folder, dtype=ctx.mx_dtype)
    mel = np.array(lab.log_mel(audio))  # (frames, 128), the input every engine tokenizes
    frames = mel.shape[0]

    def torch_engine() -> Engine:
        model = reference.to(device=ctx.torch_device, dtype=ctx.torch_dtype).requires_grad_(False)
        x = torch.from_numpy(mel.T.copy())[None].to(ctx.torch_device, ctx.torch_dtype)
        n = torch.tensor([frames], device=ctx.torch_device)
        wave = torch.from_numpy(audio).to(ctx.torch_device)
        tokens, _ = model.quantize(x, n)
        return Engine(TORCH, "torch", {"log_mel": lambda: log_mel_spectrogram(wave),
                                       "tokenize": lambda: model.quantize(x, n)[0]},
                      harness.torch_sync(ctx.torch_device), harness.weights_mb(model),
                      codes=lambda: [tokens[0].cpu().numpy()])

    def lab_engine() -> Engine:
        x = mx.array(mel)[None].astype(ctx.mx_dtype)
        tokens, _ = lab.quantize(x)
        mx.eval(tokens)
        return Engine(LAB, "mlx", {"log_mel": lambda: lab.log_mel(audio), "tokenize": lambda: lab.quantize(x)[0]},
                      harness.mlx_sync, harness.weights_mb(lab), codes=lambda: [np.array(tokens[0])])

    def peer_engine() -> Engine:
        from mlx.utils import tree_map
        from mlx_audio.codec.models.s3.model_v2 import ModelConfig as PeerConfig
        from mlx_audio.codec.models.s3.model_v2 import S3TokenizerV2 as PeerS3

        peer_cfg = {k: v for k, v in cfg.items() if k in PeerConfig.__dataclass_fields__}
        model = PeerS3(NAME, PeerConfig(**peer_cfg))
        state = {k: mx.array(v) for k, v in harness.torch_state(reference).items()}
        model.load_weights(list(model.sanitize(state).items()))
        model.update(tree_map(lambda p: p.astype(ctx.mx_dtype), model.parameters()))
        x = mx.array(mel.T)[None].astype(ctx.mx_dtype)  # (B, n_mels, T): its layout
        n = mx.array([frames])
        tokens, _ = model.quantize_simple(x, n)
        mx.eval(tokens)
        return Engine(PEER, "mlx", {"tokenize": lambda: model.quantize_simple(x, n)[0]}, harness.mlx_sync,
                      harness.weights_mb(model), codes=lambda: [np.array(tokens[0])])

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    return codec_payload(ctx, NAME, reference, engines, seconds, {"log_mel": seconds, "tokenize": seconds}, errors,
                         extra={"token_rate_hz": 25, "size": ctx.option("size", "real"), "mel_frames": frames},
                         headline=("tokenize",), family="tokenizer")
