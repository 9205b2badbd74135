"""Where a port's time goes, by layer, next to its PyTorch reference: `python -m benchmarks.layer_profile --model NAME`.

Every module call of the MLX port is timed between `mx.eval` barriers (its inputs evaluated before the clock
starts, its outputs after), and every module of the reference between torch forward hooks; modules are matched
by their path (the ports keep the reference's names), so each row shows MLX ms, its share of the stage, PyTorch
ms and the speed ratio (PyTorch / MLX, >= 1 is at or ahead). Barriers cost some fusion, so the totals run above an
unprofiled run, but on a shared machine the fractions are what to read. The same real-size seeded models as
`benchmarks/models/` (their builders are reused). Options: `--stage`, `--depth` (name levels shown, list indices
not counted), `--top`, `--repeats`, `--device` (gpu: MLX on the GPU, the
reference on CUDA, synchronised at every hook), `--no-torch`, `--set seconds=...`, `--json FILE`. Models:
encodec_24khz, kokoro_82m, wav2vec2-base, dac_44khz, snac_24khz, vocos_mel_24khz, chatterbox-s3gen,
bigvgan_v2_24khz_100band_256x (add one:
a `Subject` builder in SUBJECTS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import harness

_TORCH = {"device": "cpu"}  # where the reference runs: "cuda" under --device gpu (set by main)


def _t(obj):
    """A torch module or tensor on the reference's device (torch on CUDA next to MLX on the GPU)."""
    return obj.to(_TORCH["device"])


def _dtypes(opts: dict) -> tuple[Any, Any]:
    """(MLX dtype, torch dtype) of the `dtype=` option (float32 or bfloat16; the DAC and BigVGAN subjects)."""
    import mlx.core as mx
    import torch

    name = opts.get("dtype", "float32")
    if name not in ("float32", "bfloat16"):
        raise SystemExit(f"dtype={name!r}: float32 or bfloat16")
    return getattr(mx, name), getattr(torch, name)


def _torch_sync() -> None:
    if _TORCH["device"] != "cpu":
        import torch

        torch.cuda.synchronize()


@dataclass
class Subject:
    """One model to profile: the MLX root module and its stages, the torch root and the same stages."""

    mlx_root: Any
    mlx_stages: dict[str, Callable[[], Any]]
    torch_root: Any = None
    torch_stages: dict[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass
class LayerTimes:
    """Seconds per module path over all profiled runs: inclusive, self (less timed children), call count."""

    inclusive: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    own: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: float = 0.0
    runs: int = 0

    def add(self, path: str, dt: float, children: float, stack: list[float]) -> None:
        """One call of `path` that took `dt` s, `children` of it in profiled sub-layers; charged to the caller."""
        self.inclusive[path] += dt
        self.own[path] += dt - children
        self.calls[path] += 1
        if stack:
            stack[-1] += dt


def _depth(path: str) -> int:
    """Name levels of a module path; list indices do not count ("decoder.layers.3.conv" -> 3)."""
    return sum(1 for p in path.split(".") if p and not p.isdigit())


def _mlx_arrays(tree: Any) -> list:
    import mlx.core as mx

    if isinstance(tree, mx.array):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return [a for t in tree for a in _mlx_arrays(t)]
    if isinstance(tree, dict):
        return [a for t in tree.values() for a in _mlx_arrays(t)]
    if hasattr(tree, "__dataclass_fields__"):
        return [a for f in tree.__dataclass_fields__ for a in _mlx_arrays(getattr(tree, f))]
    return []


def profile_mlx(root, stage: Callable[[], Any], repeats: int, max_depth: int) -> LayerTimes:
    """Run `stage` `repeats` times (after one untimed warm-up) with every module call up to `max_depth` timed."""
    import mlx.core as mx

    names = {id(m): p for p, m in root.named_modules() if p and _depth(p) <= max_depth}
    classes = {type(m) for p, m in root.named_modules() if p}
    originals = {c: c.__call__ for c in classes}  # resolved before any patch: no wrapper calls another's
    times, stack, active = LayerTimes(), [], set()

    def wrap(original):
        def timed(self, *args, **kwargs):
            path = names.get(id(self))
            if path is None or id(self) in active or not recording:
                return original(self, *args, **kwargs)
            mx.eval(_mlx_arrays((args, kwargs)))
            active.add(id(self))
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                out = original(self, *args, **kwargs)
                mx.eval(_mlx_arrays(out))
            finally:
                dt = time.perf_counter() - t0
                active.discard(id(self))
                children = stack.pop()
            times.add(path, dt, children, stack)
            return out

        return timed

    recording = False
    for c in classes:
        c.__call__ = wrap(originals[c])
    try:
        mx.eval(_mlx_arrays(stage()))
        recording = True
        for _ in range(repeats):
            t0 = time.perf_counter()
            mx.eval(_mlx_arrays(stage()))
            times.total += time.perf_counter() - t0
            times.runs += 1
    finally:
        for c in classes:
            c.__call__ = originals[c]
    return times


def profile_torch(root, stage: Callable[[], Any], repeats: int, max_depth: int) -> LayerTimes:
    """The same for a torch module tree, with forward pre-hooks and hooks (CUDA synchronised at each)."""
    times, stack, starts = LayerTimes(), [], {}
    handles = []
    state = {"recording": False}

    def pre(path):
        def hook(_m, _args):
            if state["recording"]:
                _torch_sync()
                stack.append(0.0)
                starts.setdefault(path, []).append(time.perf_counter())
        return hook

    def post(path):
        def hook(_m, _args, _out):
            if not state["recording"] or not starts.get(path):
                return
            _torch_sync()
            dt = time.perf_counter() - starts[path].pop()
            children = stack.pop()
            times.add(path, dt, children, stack)
        return hook

    for path, m in root.named_modules():
        if path and _depth(path) <= max_depth:
            handles += [m.register_forward_pre_hook(pre(path)), m.register_forward_hook(post(path))]
    try:
        stage()
        state["recording"] = True
        for _ in range(repeats):
            _torch_sync()
            t0 = time.perf_counter()
            stage()
            _torch_sync()
            times.total += time.perf_counter() - t0
            times.runs += 1
    finally:
        for h in handles:
            h.remove()
    return times


def table(mlx: LayerTimes, ref: LayerTimes | None, depth: int, top: int) -> list[dict]:
    """Rows at exactly `depth` name levels (or shallower leaves), by MLX ms per run, largest first."""
    paths = [p for p in mlx.inclusive if _depth(p) == depth or (
        _depth(p) < depth and not any(q.startswith(p + ".") for q in mlx.inclusive))]
    rows = []
    for p in paths:
        ms = 1e3 * mlx.inclusive[p] / max(mlx.runs, 1)
        row = {"layer": p, "calls": mlx.calls[p] // max(mlx.runs, 1), "mlx_ms": ms,
               "mlx_fraction": mlx.inclusive[p] / mlx.total if mlx.total else None,
               "mlx_self_ms": 1e3 * mlx.own[p] / max(mlx.runs, 1)}
        if ref is not None and p in ref.inclusive:
            row["torch_ms"] = 1e3 * ref.inclusive[p] / max(ref.runs, 1)
            row["speed_vs_torch"] = row["torch_ms"] / ms if ms else None
        rows.append(row)
    rows.sort(key=lambda r: -r["mlx_ms"])
    return rows[:top]


def render(name: str, stage: str, mlx: LayerTimes, ref: LayerTimes | None, rows: list[dict]) -> str:
    """The table as text: total per stage, then one line per layer."""
    per = 1e3 * mlx.total / max(mlx.runs, 1)
    lines = [f"== {name} {stage}: MLX {per:.0f} ms per run (profiled, barriers between layers)"
             + (f", PyTorch {1e3 * ref.total / max(ref.runs, 1):.0f} ms" if ref is not None else "")
             + f"; load average {os.getloadavg()[0]:.1f}",
             f"{'layer':<48} {'calls':>5} {'MLX ms':>9} {'share':>6} {'self ms':>8} {'torch ms':>9} {'speed':>6}"]
    for r in rows:
        t = f"{r['torch_ms']:9.1f} {r['speed_vs_torch']:5.2f}x" if "torch_ms" in r else f"{'-':>9} {'-':>6}"
        lines.append(f"{r['layer']:<48} {r['calls']:>5} {r['mlx_ms']:9.1f} {100 * r['mlx_fraction']:5.1f}% "
                     f"{r['mlx_self_ms']:8.1f} {t}")
    return "\n".join(lines)


# ---------------------------------------------------------------- subjects (the benchmarks' real-size models)


def _encodec(opts: dict) -> Subject:
    import mlx.core as mx
    import torch
    from transformers import EncodecConfig, EncodecModel

    from mlx_audio_lab.models.codecs.encodec.load import load_model

    from .models.codec_common import hf_reference

    seconds, bandwidth = float(opts.get("seconds", 10.0)), float(opts.get("bandwidth", 6.0))
    cfg = harness.load_config("encodec_24khz")
    audio = harness.synthetic_audio(seconds, cfg["sampling_rate"], seed=0)
    reference, folder = hf_reference(EncodecModel, EncodecConfig, cfg, "encodec_24khz")
    model, reference = load_model(folder), _t(reference)
    x = mx.array(audio)[None, :, None]
    codes = model.encode_batch(x, bandwidth)
    xt = _t(torch.from_numpy(audio)[None, None])
    with torch.inference_mode():
        enc = reference.encode(xt, bandwidth=bandwidth)

    def t_encode():
        with torch.inference_mode():
            return reference.encode(xt, bandwidth=bandwidth)

    def t_decode():
        with torch.inference_mode():
            return reference.decode(enc.audio_codes, enc.audio_scales)

    stages = {"encode": lambda: model.encode_batch(x, bandwidth), "decode": lambda: model.decode_batch(codes)}
    return Subject(model, stages, reference, {"encode": t_encode, "decode": t_decode})


def _kokoro(opts: dict) -> Subject:
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.hub import resolve
    from mlx_audio_lab.models.tts.kokoro.load import load_model
    from mlx_audio_lab.models.tts.kokoro.reference import load_reference
    from mlx_audio_lab.models.tts.kokoro.voices import Voices

    from .models.kokoro import PHONEMES, VOICE, random_folder

    folder = resolve("kokoro-82m") if opts.get("weights", "real") == "real" else random_folder(
        harness.load_config("kokoro_82m"))
    vocab = json.loads((folder / "config.json").read_text())["vocab"]
    ids = [vocab[p] for p in PHONEMES if p in vocab]
    voices = Voices.from_folder(folder)
    voice = VOICE if VOICE in voices.names else voices.names[0]
    ref_s = voices.style(voice, len(ids)).astype(np.float32).reshape(1, -1)
    model, reference = load_model(folder), _t(load_reference(folder))
    x, s = mx.array([[0, *ids, 0]]), mx.array(ref_s)
    xt, st = _t(torch.tensor([[0, *ids, 0]])), _t(torch.from_numpy(ref_s))

    def t_generate():
        with torch.inference_mode():
            return reference.forward_with_tokens(xt, st, 1.0)[0]

    return Subject(model, {"generate": lambda: model(x, s, seed=0).audio}, reference, {"generate": t_generate})


def _wav2vec2(opts: dict) -> Subject:
    import mlx.core as mx
    import torch

    from .models.wav2vec2 import _mlx_port, _reference

    config = harness.load_config("wav2vec2-base")
    reference = _reference(config)
    model = _mlx_port(harness.torch_state(reference), config, mx.float32)
    audio = harness.synthetic_audio(float(opts.get("seconds", 10.0)), 16000, seed=0)
    audio = (audio - audio.mean()) / (audio.std() + 1e-7)
    reference = _t(reference)
    x, xt = mx.array(audio[None]), _t(torch.from_numpy(audio[None]))

    def t_forward():
        with torch.inference_mode():
            return reference(xt).logits

    return Subject(model, {"forward": lambda: model(x)}, reference, {"forward": t_forward})


def _dac(opts: dict) -> Subject:
    import mlx.core as mx
    import numpy as np
    import torch
    from transformers import DacConfig, DacModel

    from mlx_audio_lab.models.codecs.dac.load import load_model

    from .models.codec_common import hf_reference

    cfg = harness.load_config("dac_44khz")
    hop = int(np.prod(cfg["downsampling_ratios"]))
    audio = harness.synthetic_audio(float(opts.get("seconds", 10.0)), cfg["sampling_rate"], seed=0)
    audio = np.pad(audio, (0, -len(audio) % hop))
    reference, folder = hf_reference(DacModel, DacConfig, cfg, "dac_44khz")
    mx_dtype, torch_dtype = _dtypes(opts)
    model, reference = load_model(folder, dtype=mx_dtype), _t(reference).to(torch_dtype)
    x, xt = mx.array(audio)[None, :, None].astype(mx_dtype), _t(torch.from_numpy(audio)[None, None]).to(torch_dtype)
    codes = model.encode_batch(x)
    with torch.inference_mode():
        t_codes = reference.encode(xt).audio_codes

    def t_encode():
        with torch.inference_mode():
            return reference.encode(xt).audio_codes

    def t_decode():
        with torch.inference_mode():
            return reference.decode(audio_codes=t_codes).audio_values

    stages = {"encode": lambda: model.encode_batch(x), "decode": lambda: model.decode_batch(codes)}
    return Subject(model, stages, reference, {"encode": t_encode, "decode": t_decode})


def _vocos(opts: dict) -> Subject:
    import mlx.core as mx
    import torch
    import yaml

    from mlx_audio_lab.models.codecs.vocos.load import load_model
    from mlx_audio_lab.models.codecs.vocos.torch_shim import import_vocos

    from .models.codec_common import seeded_weights_, temp_folder

    cfg = harness.load_config("vocos_mel_24khz")  # the benchmark's seeded real-size model, as it builds it
    audio = harness.synthetic_audio(float(opts.get("seconds", 10.0)), 24000, seed=0)
    vocos, _ = import_vocos()
    folder = temp_folder("vocos_mel_24khz")
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    torch.manual_seed(0)
    reference = vocos.Vocos.from_hparams(str(folder / "config.yaml")).eval()
    seeded_weights_(reference.backbone, seed=0)
    seeded_weights_(reference.head.out, seed=1)
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")
    model, reference = load_model(folder), _t(reference)
    feats = model.feature_extractor(mx.array(audio)[None])
    with torch.inference_mode():
        t_feats = reference.feature_extractor(_t(torch.from_numpy(audio)[None]))

    def t_decode():
        with torch.inference_mode():
            return reference.decode(t_feats)

    return Subject(model, {"decode": lambda: model.decode_batch(feats)}, reference, {"decode": t_decode})


def _chatterbox_s3gen(opts: dict) -> Subject:
    """S3Gen at the benchmark's real sizes: `flow` (encoder + `steps` Euler steps, default 2) and `hift`."""
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.convert.keymap import fold_weight_norm
    from mlx_audio_lab.convert.loading import fill_model
    from mlx_audio_lab.models.tts.chatterbox.config import HiFTConfig
    from mlx_audio_lab.models.tts.chatterbox.convert import S3GEN_KEYMAP
    from mlx_audio_lab.models.tts.chatterbox.flow import FlowConfig
    from mlx_audio_lab.models.tts.chatterbox.reference_s3gen import _S3Gen
    from mlx_audio_lab.models.tts.chatterbox.s3gen import S3Gen

    n_tokens, n_prompt, steps = (int(opts.get(k, d)) for k, d in (("tokens", 50), ("prompt", 50), ("steps", 2)))
    torch.manual_seed(0)
    ref = _S3Gen(HiFTConfig(), FlowConfig()).eval()
    port = fill_model(S3Gen(HiFTConfig(), FlowConfig()), fold_weight_norm(harness.torch_state(ref), dim=0),
                      S3GEN_KEYMAP, {}, "benchmark weights", mx.float32)
    rng = np.random.default_rng(0)
    tokens, prompt = (rng.integers(0, 6561, (1, n)) for n in (n_tokens, n_prompt))
    prompt_mel = rng.standard_normal((1, 2 * n_prompt, 80)).astype(np.float32)
    xvector = rng.standard_normal((1, 192)).astype(np.float32)
    noise = rng.standard_normal((1, 2 * (n_prompt + n_tokens), 80)).astype(np.float32)
    m = [mx.array(a) for a in (tokens, prompt, prompt_mel, xvector, noise)]
    mel = np.array(port.flow(*m[:4], noise=m[4], n_timesteps=steps))
    ref = _t(ref)
    mel_m, mel_t = mx.array(mel), _t(torch.from_numpy(mel).transpose(1, 2))

    def t_flow():
        with torch.inference_mode():
            return ref.flow.inference(token=_t(torch.from_numpy(tokens)), token_len=_t(torch.tensor([n_tokens])),
                                      prompt_token=_t(torch.from_numpy(prompt)),
                                      prompt_token_len=_t(torch.tensor([n_prompt])),
                                      prompt_feat=_t(torch.from_numpy(prompt_mel)), prompt_feat_len=None,
                                      embedding=_t(torch.from_numpy(xvector)), finalize=True, n_timesteps=steps)[0]

    def t_hift():
        with torch.inference_mode():
            return ref.mel2wav.inference(mel_t)[0]

    stages = {"flow": lambda: port.flow(*m[:4], noise=m[4], n_timesteps=steps),
              "hift": lambda: port.mel2wav(mel_m)[0]}
    return Subject(port, stages, ref, {"flow": t_flow, "hift": t_hift})


def _bigvgan(opts: dict) -> Subject:
    import json

    import mlx.core as mx
    import torch

    from mlx_audio_lab.models.codecs.bigvgan.load import load_model
    from mlx_audio_lab.models.codecs.bigvgan.reference import generator_from_config, reference_mel

    from .models.codec_common import seeded_weights_, temp_folder

    cfg = harness.load_config("bigvgan_v2_24khz_100band_256x")  # the benchmark's seeded real-size model
    mel = reference_mel(cfg, harness.synthetic_audio(float(opts.get("seconds", 10.0)), cfg["sampling_rate"], seed=0))
    torch.manual_seed(0)
    reference = generator_from_config(cfg).eval()
    seeded_weights_(reference, seed=0, keep=("filter",))
    folder = temp_folder("bigvgan_v2_24khz_100band_256x")
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save({"generator": reference.state_dict()}, folder / "bigvgan_generator.pt")
    mx_dtype, torch_dtype = _dtypes(opts)
    model, reference = load_model(folder, dtype=mx_dtype), _t(reference).to(torch_dtype)
    x, xt = mx.array(mel.T)[None].astype(mx_dtype), _t(torch.from_numpy(mel)[None]).to(torch_dtype)

    def t_decode():
        with torch.inference_mode():
            return reference(xt)

    return Subject(model, {"decode": lambda: model.decode_batch(x)}, reference, {"decode": t_decode})


def _snac(opts: dict) -> Subject:
    import mlx.core as mx
    import numpy as np
    import torch

    from mlx_audio_lab.models.codecs.snac.config import SnacConfig
    from mlx_audio_lab.models.codecs.snac.load import load_model

    from .models.snac import seeded_reference

    cfg = harness.load_config("snac_24khz")  # the benchmark's seeded real-size model, as it builds it
    pad = SnacConfig.from_dict(cfg).pad_multiple
    audio = harness.synthetic_audio(float(opts.get("seconds", 10.0)), cfg["sampling_rate"], seed=0)
    audio = np.pad(audio, (0, -len(audio) % pad))
    reference, folder = seeded_reference(cfg)
    model, reference = load_model(folder), _t(reference)
    x, xt = mx.array(audio)[None, :, None], _t(torch.from_numpy(audio)[None, None])
    codes = model.encode_batch(x)
    with torch.inference_mode():
        t_codes = reference.encode(xt)

    def t_encode():
        with torch.inference_mode():
            return reference.encode(xt)

    def t_decode():
        with torch.inference_mode():
            return reference.decode(t_codes)

    stages = {"encode": lambda: model.encode_batch(x), "decode": lambda: model.decode_batch(codes)}
    return Subject(model, stages, reference, {"encode": t_encode, "decode": t_decode})


SUBJECTS: dict[str, Callable[[dict], Subject]] = {
    "encodec_24khz": _encodec, "kokoro_82m": _kokoro, "wav2vec2-base": _wav2vec2, "dac_44khz": _dac,
    "vocos_mel_24khz": _vocos, "snac_24khz": _snac, "chatterbox-s3gen": _chatterbox_s3gen,
    "bigvgan_v2_24khz_100band_256x": _bigvgan}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.layer_profile", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, choices=sorted(SUBJECTS))
    p.add_argument("--stage", action="append", help="a stage (repeatable; default: all the model's stages)")
    p.add_argument("--depth", type=int, default=3, help="name levels per row (list indices not counted)")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", choices=harness.DEVICES, default="cpu")
    p.add_argument("--no-torch", action="store_true", help="profile the MLX port only")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model option (seconds=...)")
    p.add_argument("--json", help="also write the rows to this file")
    a = p.parse_args(argv)
    harness.select_device(a.device)
    _TORCH["device"] = "cuda" if a.device == "gpu" else "cpu"
    opts = dict(kv.split("=", 1) for kv in a.set if "=" in kv)
    subject = SUBJECTS[a.model](opts)
    out = {}
    for stage in a.stage or list(subject.mlx_stages):
        if stage not in subject.mlx_stages:
            p.error(f"unknown stage {stage!r} for {a.model}; known: {sorted(subject.mlx_stages)}")
        mlx = profile_mlx(subject.mlx_root, subject.mlx_stages[stage], a.repeats, a.depth)
        ref = None
        if not a.no_torch and stage in subject.torch_stages:  # the reference on the CPU or on CUDA
            ref = profile_torch(subject.torch_root, subject.torch_stages[stage], a.repeats, a.depth)
        rows = table(mlx, ref, a.depth, a.top)
        print(render(a.model, stage, mlx, ref, rows), flush=True)
        out[stage] = {"mlx_ms": 1e3 * mlx.total / max(mlx.runs, 1),
                      "torch_ms": None if ref is None else 1e3 * ref.total / max(ref.runs, 1),
                      "load_average": os.getloadavg()[0], "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "depth": a.depth, "stages": out}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
