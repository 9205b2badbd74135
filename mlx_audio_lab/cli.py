"""The `mlx-audio-lab` command line: models, transcribe, encode, decode, speak, parity, fixtures, convert."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from . import _blas  # noqa: F401  (OpenBLAS before MLX)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=float))


def cmd_models(args: argparse.Namespace) -> int:
    from .registry import REGISTRY

    rows = [{"model_type": s.model_type, "family": s.family, "reference": s.reference,
             "notebook": s.notebook, "aliases": list(s.aliases)} for s in REGISTRY.values()]
    if args.json:
        _print_json(rows)
        return 0
    w = max(len(r["model_type"]) for r in rows)
    for r in rows:
        print(f"{r['model_type']:<{w}}  {r['family']:<6}  {r['reference']}  ({r['notebook']})")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from . import load
    from .audio import AudioError

    model = load(args.model)
    if not hasattr(model, "transcribe"):
        raise SystemExit(f"error: {args.model} is not a speech-recognition model")
    results = []
    for path in args.audio:
        try:
            result = model.transcribe(path, beam_size=args.beam_size, language=args.language,
                                      timestamps=not args.no_timestamps, progress=not args.json)
        except AudioError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        results.append(result)
        if not args.json:
            if len(args.audio) > 1:
                print(f"== {path}")
            for s in result.segments:
                print(f"[{s.start:7.2f} -> {s.end:7.2f}] {s.text.strip()}")
            if not result.segments:
                print(result.text.strip())
    if args.json:
        out = [{"file": str(p), **r.to_dict()} for p, r in zip(args.audio, results)]
        _print_json(out[0] if len(out) == 1 else out)
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from . import parity

    report = parity.run(args.model_type, weights=args.weights, recording=args.recording)
    print(report.to_json(indent=2) if args.json else report.table())
    return 0 if report.ok else 1


def cmd_parity_record(args: argparse.Namespace) -> int:
    from .fixtures import build
    from .hub import resolve
    from .parity import record
    from .registry import spec_for

    spec = spec_for(args.model_type)
    folder = build(spec.model_type) if args.weights == "fixture" else resolve(args.weights)
    print(record(spec.model_type, folder, Path(args.out)))
    return 0


def cmd_fixtures(args: argparse.Namespace) -> int:
    from .fixtures import build
    from .parity.core import quiet_reference
    from .registry import available_models

    quiet_reference()

    for model_type in args.model_types or available_models():
        print(build(model_type, force=args.force))
    return 0


def _sample_rate(model) -> int:
    rate = getattr(model, "sample_rate", None) or getattr(model.config, "sampling_rate", None)
    if rate is None:
        raise SystemExit("error: the model does not say its sample rate")
    return int(rate)


def cmd_encode(args: argparse.Namespace) -> int:
    import numpy as np

    from . import load
    from .audio import load_audio

    model = load(args.model)
    if not hasattr(model, "encode"):
        raise SystemExit(f"error: {args.model} is not a codec (it has no encode)")
    kwargs = {"bandwidth": args.bandwidth} if args.bandwidth is not None else {}
    channels = int(getattr(getattr(model, "config", None), "audio_channels", 1) or 1)
    if channels == 1:
        audio = load_audio(args.audio, _sample_rate(model))
    else:  # multi-channel codecs (encodec_48khz): each channel at the model's rate, a mono file duplicated
        from .audio import _read

        data, rate = _read(Path(args.audio))
        if data.shape[1] not in (1, channels):
            raise SystemExit(f"error: {args.audio} has {data.shape[1]} channels; the model takes {channels}")
        audio = np.stack([load_audio(data[:, min(c, data.shape[1] - 1)], _sample_rate(model), source_rate=rate)
                          for c in range(channels)], axis=1)
    codes = model.encode(audio, **kwargs)
    if hasattr(codes, "to_arrays"):  # chunked codecs (encodec_48khz): codes per chunk with scales, in an .npz
        out = str(args.out) if str(args.out).endswith(".npz") else str(args.out) + ".npz"
        np.savez(out, **codes.to_arrays())
        print(f"{out}: codes, {len(codes.codes)} chunks of {codes.codes.shape[1]} x {codes.codes.shape[2]} frames")
        return 0
    if isinstance(codes, (list, tuple)):  # multi-scale codecs (SNAC): one array per scale, in an .npz
        out = str(args.out) if str(args.out).endswith(".npz") else str(args.out) + ".npz"
        np.savez(out, *[np.asarray(c) for c in codes])
        print(f"{out}: codes at {len(codes)} scales, frames {[np.asarray(c).shape[-1] for c in codes]}")
        return 0
    codes = np.asarray(codes)
    np.save(args.out, codes)
    kind = "codes" if np.issubdtype(codes.dtype, np.integer) else "features"
    print(f"{args.out}: {kind}, {codes.shape[0]} x {codes.shape[-1]} frames")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from . import load
    from .audio import save_audio

    model = load(args.model)
    if not hasattr(model, "decode"):
        raise SystemExit(f"error: {args.model} is not a codec (it has no decode)")
    loaded = np.load(args.codes, allow_pickle=False)
    if isinstance(loaded, np.lib.npyio.NpzFile) and "codes" in loaded.files:  # chunked codes with their scales
        codes = {k: loaded[k] for k in loaded.files}
        arrays = [codes["codes"]]
    elif isinstance(loaded, np.lib.npyio.NpzFile):  # multi-scale codes, one array per scale
        codes = [loaded[k] for k in sorted(loaded.files, key=lambda k: int(k.split("_")[-1]))]
        arrays = codes
    else:
        codes = loaded
        arrays = [codes]
    for a in arrays:
        if not np.issubdtype(a.dtype, np.integer) and not getattr(model, "decodes_features", False):
            raise SystemExit(f"error: {args.codes} holds {a.dtype} values; codes must be integers")
    audio = np.asarray(model.decode(codes), dtype=np.float32)
    channels = int(getattr(getattr(model, "config", None), "audio_channels", 1) or 1)
    if not (channels > 1 and audio.ndim == 2 and audio.shape[1] == channels):  # (T, channels) kept as is
        audio = audio.reshape(-1)
    save_audio(args.out, audio, _sample_rate(model))
    print(f"{args.out}: {len(audio) / _sample_rate(model):.2f} s")
    return 0


def cmd_speak(args: argparse.Namespace) -> int:
    import numpy as np

    from . import load
    from .audio import save_audio

    model = load(args.model)
    if not hasattr(model, "generate"):
        raise SystemExit(f"error: {args.model} is not a text-to-speech model")
    chunks = list(model.generate(args.text, voice=args.voice, speed=args.speed))
    audio = np.concatenate([np.asarray(c.audio, dtype=np.float32).reshape(-1) for c in chunks])
    rate = chunks[0].sample_rate
    save_audio(args.out, audio, rate)
    rtf = sum(c.stats.processing_time for c in chunks) / max(len(audio) / rate, 1e-9)
    print(f"{args.out}: {len(audio) / rate:.2f} s at {rate} Hz, {len(chunks)} chunk(s), real-time factor {rtf:.2f}")
    return 0


def cmd_enhance(args: argparse.Namespace) -> int:
    """Denoise a recording (speech enhancement); the output is written atomically (temp file, then rename)."""
    import os
    import tempfile

    from . import load
    from .audio import load_audio, save_audio

    model = load(args.model)
    if not hasattr(model, "enhance"):
        print(f"error: {args.model} is not a speech-enhancement model (it has no enhance); "
              "pick one from `mlx-audio-lab models` in family sts", file=sys.stderr)
        return 2
    audio = load_audio(args.audio, model.sample_rate)
    if audio.size == 0:
        print(f"error: {args.audio} holds no samples; give a non-empty recording", file=sys.stderr)
        return 2
    result = model.enhance(audio)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".wav", prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        save_audio(tmp, result.audio, result.sample_rate)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    print(f"{out}: {len(result.audio) / result.sample_rate:.2f} s at {result.sample_rate} Hz, "
          f"real-time factor {result.real_time_factor:.2f}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from . import load
    from .convert.save import save_model

    model = load(args.model, quantize=args.quantize) if args.quantize else load(args.model)
    if args.layout == "mlx":
        print(save_model(model, Path(args.out)))
        return 0
    print(community_exporter(args.model)(model, Path(args.out)))
    return 0


def community_exporter(ref: str) -> Callable[..., Path]:
    """The port's `export_mlx_community` for a model reference (found in its `load` or `export` module)."""
    import importlib

    from .hub import resolve
    from .registry import detect

    spec = detect(resolve(ref))
    for name in ("load", "export"):
        try:
            module = importlib.import_module(f"{spec.module}.{name}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "export_mlx_community"):
            return module.export_mlx_community
    raise SystemExit(f"{spec.model_type} has no mlx-community exporter")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlx-audio-lab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="registered model types")
    m.add_argument("--json", action="store_true")
    m.set_defaults(fn=cmd_models)

    t = sub.add_parser("transcribe", help="speech to text")
    t.add_argument("--model", required=True, help="folder, hub repo id, or bundled name (whisper-tiny.en)")
    t.add_argument("--beam-size", type=int, default=5, help="beam width; 1 is greedy (default 5)")
    t.add_argument("--language", default=None)
    t.add_argument("--no-timestamps", action="store_true")
    t.add_argument("--json", action="store_true")
    t.add_argument("audio", nargs="+")
    t.set_defaults(fn=cmd_transcribe)

    q = sub.add_parser("parity", help="layer-by-layer parity against the PyTorch reference "
                                      "(`parity record MODEL_TYPE --out F` saves the reference side)")
    q.add_argument("model_type")
    q.add_argument("--weights", default="fixture", help="'fixture' (default), a folder, hub id or bundled name")
    q.add_argument("--recording", type=Path, default=None, help="reference tensors saved by `parity record`")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=cmd_parity)

    f = sub.add_parser("fixtures", help="fixture checkpoints")
    fsub = f.add_subparsers(dest="action", required=True)
    fb = fsub.add_parser("build", help="build (or reuse) fixtures; prints each folder")
    fb.add_argument("model_types", nargs="*")
    fb.add_argument("--force", action="store_true")
    fb.set_defaults(fn=cmd_fixtures)

    c = sub.add_parser("convert", help="save a model in the MLX layout (optionally quantized)")
    c.add_argument("--model", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--quantize", type=int, choices=[4, 8], default=None)
    c.add_argument("--layout", choices=["mlx", "mlx-community"], default="mlx",
                   help="the project's MLX layout (default) or the layout mlx-audio / the mlx-community repos use")
    c.set_defaults(fn=cmd_convert)

    e = sub.add_parser("encode", help="codec: audio -> codes (.npy, codebooks x frames)")
    e.add_argument("--model", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--bandwidth", type=float, default=None, help="kbps, for codecs with several bandwidths")
    e.add_argument("audio")
    e.set_defaults(fn=cmd_encode)

    d = sub.add_parser("decode", help="codec: codes (.npy) -> audio")
    d.add_argument("--model", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("codes")
    d.set_defaults(fn=cmd_decode)

    s = sub.add_parser("speak", help="text to speech")
    s.add_argument("--model", required=True)
    s.add_argument("--voice", default=None)
    s.add_argument("--speed", type=float, default=1.0)
    s.add_argument("--out", required=True)
    s.add_argument("text")
    s.set_defaults(fn=cmd_speak)

    n = sub.add_parser("enhance", help="speech enhancement: noisy audio -> denoised audio (48 kHz WAV)")
    n.add_argument("--model", required=True)
    n.add_argument("--out", required=True)
    n.add_argument("audio")
    n.set_defaults(fn=cmd_enhance)
    return p


def record_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlx-audio-lab parity record")
    p.add_argument("model_type")
    p.add_argument("--weights", default="fixture")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_parity_record)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.showwarning = lambda message, *_a, **_k: print(f"note: {message}", file=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = record_parser().parse_args(argv[2:]) if argv[:2] == ["parity", "record"] else parser().parse_args(argv)
    from .audio import AudioError
    from .convert.keymap import CheckpointError
    from .convert.readers import UnsafeCheckpointError
    from .hub import HubUnavailableError
    from .registry import UnknownModelError

    except_types = (CheckpointError, HubUnavailableError, UnknownModelError, FileNotFoundError, AudioError,
                    UnsafeCheckpointError)
    try:
        return args.fn(args)
    except except_types as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
