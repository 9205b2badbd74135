"""Kokoro-82M: a full generation from a fixed ~200-phoneme string (real-time factor) and the iSTFTNet decoder alone.

Weights: on a CPU the real ones (bundled `kokoro-82m`, MLX-community layout); elsewhere (`--set weights=random`, the
default on GPU) seeded random ones at the real size (benchmarks/configs/kokoro_82m.json), with the duration
projection set so phonemes last a few frames, as trained weights make them. The reference is `kokoro.KModel`,
the port loads the folder with its own converter, and mlx-audio's port gets the same state dict through
its own `Model.sanitize`. No G2P anywhere: the phonemes are fixed. The decoder-only stage re-runs each engine's
decoder on the inputs it saw in its own full run. Options: weights=real|random.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

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
    temp_folder,
    torch_engine_module,
)

NAME = "kokoro_82m"
PARTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
# "The North Wind and the Sun" (first sentences), in Kokoro's IPA: fixed, so no G2P is needed on any host.
PHONEMES = ("ðə nˈɔːɹθ wˈɪnd ænd ðə sˈʌn wɜːɹ dɪspjˈuːtɪŋ wˈɪtʃ wʌz ðə stɹˈɔŋɡɚ, wˌɛn ɐ tɹˈævəlɚ kˈeɪm "
            "əlˈɔŋ ɹˈæpt ɪn ɐ wˈɔːɹm klˈoʊk. ðeɪ ɐɡɹˈiːd ðæt ðə wˈʌn hˌuː fˈɚst səksˈiːdᵻd ɪn mˈeɪkɪŋ ðə "
            "tɹˈævəlɚ tˈeɪk hɪz klˈoʊk ˈɔf ʃˌʊd biː kənsˈɪdɚd stɹˈɔŋɡɚ ðɐn ðɪ ˈʌðɚ.")
VOICE = "bench_voice"


def random_folder(cfg: dict) -> Path:
    """A seeded random KModel at the real size, saved as hexgrad ships it (config.json, .pth, one voice)."""
    import torch

    from mlx_audio_lab.models.tts.kokoro.reference import _empty_kmodel

    folder = temp_folder(NAME)
    torch.manual_seed(0)
    model = _empty_kmodel(cfg)
    seeded_weights_(model, seed=0)
    with torch.no_grad():  # a voiced F0 (Hz) and ~2 to 6 frames per phoneme, as trained weights give
        model.predictor.F0_proj.weight.mul_(40.0)
        model.predictor.F0_proj.bias.fill_(120.0)
        model.predictor.duration_proj.linear_layer.bias.fill_(-2.5)
    (folder / "voices").mkdir()
    (folder / "config.json").write_text(json.dumps(cfg, ensure_ascii=False))
    torch.save({p: {f"module.{k}": v for k, v in getattr(model, p).state_dict().items()} for p in PARTS},
               folder / "kokoro-v1_0.pth")
    g = torch.Generator().manual_seed(1)
    torch.save(torch.randn(510, 1, 256, generator=g) * 0.3, folder / "voices" / f"{VOICE}.pt")
    return folder


@contextmanager
def recording_calls(module, into: dict):
    """While open, remember the positional arguments of the last call of `module` (class-level patch)."""
    cls = type(module)
    original = cls.__call__

    def record(self, *args, **kwargs):
        if self is module:
            into["args"], into["kwargs"] = args, kwargs
        return original(self, *args, **kwargs)

    cls.__call__ = record
    try:
        yield into
    finally:
        cls.__call__ = original


@harness.register(NAME, "Kokoro-82M: full generation RTF (~200 phonemes) and iSTFTNet decoder; port vs torch vs "
                        "mlx-audio")
def run(ctx: harness.Context) -> dict:
    import mlx.core as mx
    import torch

    from mlx_audio_lab.models.tts.kokoro.load import load_model
    from mlx_audio_lab.models.tts.kokoro.reference import load_reference
    from mlx_audio_lab.models.tts.kokoro.voices import Voices

    weights = ctx.option("weights", "real" if ctx.device == "cpu" else "random")
    cfg = harness.load_config(NAME)
    if weights == "real":
        from mlx_audio_lab.hub import resolve

        folder = resolve("kokoro-82m")
    elif weights == "random":
        folder = random_folder(cfg)
    else:
        raise ValueError(f"weights must be real or random, got {weights!r}")
    vocab = json.loads((folder / "config.json").read_text())["vocab"]
    phonemes = "".join(p for p in PHONEMES if p in vocab)
    ids = [vocab[p] for p in phonemes]
    voices = Voices.from_folder(folder)
    voice = VOICE if VOICE in voices.names else voices.names[0]
    ref_s = voices.style(voice, len(ids)).astype(np.float32).reshape(1, -1)
    sr = 24_000
    errors: dict[str, str] = {}
    reference = load_reference(folder)
    lengths: dict[str, float] = {}

    def torch_engine() -> Engine:
        model = torch_engine_module(reference, ctx)
        x = torch.tensor([[0, *ids, 0]], device=ctx.torch_device)
        s = torch.from_numpy(ref_s).to(ctx.torch_device, ctx.torch_dtype)
        seen: dict = {}
        handle = model.decoder.register_forward_pre_hook(lambda _m, args: seen.update(args=args))
        with torch.inference_mode():
            audio = model.forward_with_tokens(x, s, 1.0)[0]
        handle.remove()
        lengths[TORCH] = audio.numel() / sr

        def generate():
            with torch.inference_mode():
                return model.forward_with_tokens(x, s, 1.0)[0]

        def decode():
            with torch.inference_mode():
                return model.decoder(*seen["args"])

        return Engine(TORCH, "torch", {"generate": generate, "decoder": decode},
                      harness.torch_sync(ctx.torch_device), harness.weights_mb(model))

    def lab_engine() -> Engine:
        model = load_model(folder)
        if ctx.dtype != "float32":
            model.set_dtype(ctx.mx_dtype)
        x, s = mx.array([[0, *ids, 0]]), mx.array(ref_s).astype(ctx.mx_dtype)
        with recording_calls(model.decoder, {}) as seen:
            out = model(x, s, seed=0)
            mx.eval(out.audio)
        lengths[LAB] = out.audio.size / sr
        return Engine(LAB, "mlx", {"generate": lambda: model(x, s, seed=0).audio,
                                   "decoder": lambda: model.decoder(*seen["args"], **seen["kwargs"])},
                      harness.mlx_sync, harness.weights_mb(model))

    def peer_engine() -> Engine:
        from mlx_audio.tts.models.kokoro.kokoro import Model, ModelConfig

        model = Model(ModelConfig.from_dict(json.loads((folder / "config.json").read_text())))
        state = {f"{p}.{k}": v for p in PARTS for k, v in harness.torch_state(getattr(reference, p)).items()}
        weights_ = model.sanitize({k: mx.array(v) for k, v in state.items()})  # its own loader's step
        own = set(mlx_params(model))
        # its InstanceNorms carry no affine (the hub conversion drops those 1 / 0 tensors): leave them out
        dropped = sorted(k for k in weights_ if k not in own and re.search(r"\.norm\.(weight|bias)$", k))
        load_peer(model, {k: np.array(v) for k, v in weights_.items() if k not in dropped}, ctx.mx_dtype)
        s = mx.array(ref_s).astype(ctx.mx_dtype)
        with recording_calls(model.decoder, {}) as seen:
            audio = model(phonemes, s)
        lengths[PEER] = audio.size / sr
        return Engine(PEER, "mlx", {"generate": lambda: model(phonemes, s),
                                    "decoder": lambda: model.decoder(*seen["args"], **seen["kwargs"])},
                      harness.mlx_sync, harness.weights_mb(model),
                      notes={"instance_norm_affines_dropped": len(dropped)})

    engines = [e for e in (guarded(ctx, TORCH, torch_engine, errors), guarded(ctx, LAB, lab_engine, errors),
                           guarded(ctx, PEER, peer_engine, errors)) if e is not None]
    audio_s = lengths.get(LAB) or lengths.get(TORCH) or next(iter(lengths.values()), 0.0)
    extra = {"weights": weights, "phonemes": len(ids), "voice": voice, "audio_s_by_engine": lengths}
    payload = codec_payload(ctx, NAME, reference, engines, audio_s, {"generate": audio_s, "decoder": audio_s},
                            errors, extra=extra, headline=("generate",), family="tts",
                            weights="real weights (bundled kokoro-82m)" if weights == "real"
                            else "seeded random weights, real config")
    payload["input"] = {"phonemes": phonemes, "audio_s": audio_s}
    return payload

