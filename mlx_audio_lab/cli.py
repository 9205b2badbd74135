"""The `mlx-audio-lab` command line: models, transcribe, vad, encode, decode, speak, parity, fixtures, convert."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _blas  # noqa: F401  (OpenBLAS before MLX)
from .cli_checks import (
    STYLE_LEVELS,
    beam_size,
    check_bandwidth,
    error,
    finite_float,
    guarded,
    non_negative_float,
    positive_float,
    probability,
    require,
    speed_or_level,
)


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
    from .errors import ArgumentError, LabError
    from .writers import FORMATS, write

    model = load(args.model)
    require(model, "transcribe", "a speech-recognition model", args.model)
    options = transcribe_options(model, args)
    vad = _vad_model(args.vad_model) if args.vad else None
    if args.vad and vad is None:
        return 2
    formats = FORMATS if args.output_format == "all" else (args.output_format,) if args.output_format else ()
    if args.output_dir is not None and not formats:
        formats = FORMATS
    results, paths, failed = [], [], 0
    for path in args.audio:  # each file on its own: a bad one is reported and the others still transcribed
        try:
            if vad is not None:
                from .models.vad.transcribe import transcribe_speech

                result = transcribe_speech(model, vad, path, **options)
            else:
                result = model.transcribe(path, **options)
        except ArgumentError:
            raise  # the same for every file
        except (LabError, OSError) as e:
            error(e)
            failed += 1
            continue
        for fmt in formats:
            written = write(result, fmt, Path(args.output_dir or "."), Path(path).stem)
            print(f"wrote {written}", file=sys.stderr)
        results.append(result)
        paths.append(path)
        if not args.json:
            if len(args.audio) > 1:
                print(f"== {path}")
            for s in result.segments:
                print(f"[{s.start:7.2f} -> {s.end:7.2f}] {s.text.strip()}")
            if not result.segments:
                print(result.text.strip())
    if args.json and (results or len(args.audio) > 1):
        out = [{"file": str(p), **r.to_dict(), **({"speech_spans": r.speech_spans} if vad is not None else {})}
               for p, r in zip(paths, results)]
        _print_json(out[0] if len(args.audio) == 1 else out)
    if failed:
        error(f"{failed} of {len(args.audio)} files failed (see above)")
    return 2 if failed else 0


def transcribe_options(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The `transcribe` keyword arguments the flags ask for; a flag the model's port does not take is an error
    naming it (never silently ignored)."""
    from .errors import ArgumentError
    from .stt_options import accepted_options

    asked: dict[str, tuple[str, Any]] = {}  # option -> (flag, value), only for flags the user set
    for flag, name, value in (("--beam-size", "beam_size", args.beam_size),
                              ("--language", "language", args.language), ("--task", "task", args.task),
                              ("--initial-prompt", "initial_prompt", args.initial_prompt),
                              ("--prefix", "prefix", args.prefix)):
        if value is not None:
            asked[name] = (flag, value)
    if args.word_timestamps:
        asked["word_timestamps"] = ("--word-timestamps", True)
    if args.no_timestamps:
        asked["timestamps"] = ("--no-timestamps", False)
    fallback = {k: getattr(args, k) for k in ("compression_ratio_threshold", "logprob_threshold",
                                             "no_speech_threshold") if getattr(args, k) is not None}
    if args.temperature is not None or fallback or args.condition_on_previous_text or args.seed is not None:
        asked["fallback"] = ("--temperature/--*-threshold/--condition-on-previous-text/--seed", fallback)
    accepted = accepted_options(model)
    for name, (flag, _) in asked.items():
        if name not in accepted:
            raise ArgumentError(f"{flag}: {args.model} ({type(model).__name__}) has no such option; drop the flag")
    options = {name: value for name, (_, value) in asked.items()}
    if "fallback" in options:
        from .models.stt.whisper.fallback import FallbackOptions, SeededDraws

        if args.no_speech_threshold is not None and args.logprob_threshold is None:
            raise ArgumentError("--no-speech-threshold needs --logprob-threshold: a window is skipped as silence "
                                "only when it is also unlikely (as openai-whisper and transformers do)")
        options["fallback"] = FallbackOptions(
            temperatures=tuple(args.temperature or (0.0,)), condition_on_previous_text=args.condition_on_previous_text,
            draws=SeededDraws(args.seed or 0), **fallback)
    if "progress" in accepted:
        options["progress"] = not args.json
    return options


def _vad_model(name: str):
    """The VAD model `name` loads, or None after printing why it is not one."""
    from . import load

    model = load(name)
    if not hasattr(model, "detect"):
        print(f"error: {name} is not a voice-activity model; use a VAD such as silero-vad", file=sys.stderr)
        return None
    return model


def cmd_vad(args: argparse.Namespace) -> int:
    from .models.vad.silero.timestamps import VADOptions

    model = _vad_model(args.model)
    if model is None:
        return 2
    defaults = VADOptions()
    options = {k: getattr(args, k) for k in ("threshold", "min_speech_duration_ms", "max_speech_duration_s",
                                             "min_silence_duration_ms", "speech_pad_ms")
               if getattr(args, k) != getattr(defaults, k)}
    if args.sample_rate not in model.sample_rates:
        print(f"error: --sample-rate {args.sample_rate}: {args.model} scores {model.sample_rates} Hz audio",
              file=sys.stderr)
        return 2
    out = []
    for path in args.audio:
        result = model.detect(Path(path), args.sample_rate, **options)
        out.append({"file": str(path), **result.to_dict()})
        if not args.json:
            if len(args.audio) > 1:
                print(f"== {path}")
            for start, end in result.segments:
                print(f"[{start:7.2f} -> {end:7.2f}] speech")
    if args.json:
        _print_json(out[0] if len(out) == 1 else out)
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from . import parity

    report = parity.run(args.model_type, weights=args.weights, recording=args.recording)
    print(report.to_json(indent=2) if args.json else report.table())
    if not args.json:  # e.g. token agreement of bf16 / quantized runs with fp32 (generation ports)
        for key, value in report.extras.items():
            if key not in ("weights", "reference"):
                print(f"{key}: {value}")
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
        from .errors import ConfigError

        raise ConfigError("the model does not say its sample rate")
    return int(rate)


def cmd_encode(args: argparse.Namespace) -> int:
    import numpy as np

    from . import load
    from .atomic import writable_parent
    from .audio import load_audio
    from .codes import write_codes

    out = Path(args.out)
    if out.suffix not in (".npy", ".npz"):
        from .errors import OutputError

        raise OutputError(f"--out {out}: codes are written as .npy (one array) or .npz; name the file so")
    writable_parent(out)  # before the work: a bad output path fails now, not after encoding
    model = load(args.model)
    require(model, "encode", "a codec", args.model)
    kwargs = check_bandwidth(model, args.bandwidth)
    channels = int(getattr(getattr(model, "config", None), "audio_channels", 1) or 1)
    if channels == 1:
        audio = load_audio(args.audio, _sample_rate(model))
    else:  # multi-channel codecs (encodec_48khz): each channel at the model's rate, a mono file duplicated
        from .audio import _read

        data, rate = _read(Path(args.audio))
        if data.shape[1] not in (1, channels):
            from .audio import AudioError

            raise AudioError(f"{args.audio} has {data.shape[1]} channels; the model takes 1 or {channels}")
        audio = np.stack([load_audio(data[:, min(c, data.shape[1] - 1)], _sample_rate(model), source_rate=rate)
                          for c in range(channels)], axis=1)
    if getattr(model, "chunked", False) and out.suffix != ".npz":
        from .errors import OutputError

        raise OutputError(f"--out {out}: this model's codes are chunks with scales; name the output *.npz")
    codes = model.encode(audio, **kwargs)
    if hasattr(codes, "to_arrays"):  # chunked codecs (encodec_48khz): codes per chunk with scales, in an .npz
        write_codes(out, codes.to_arrays())
        print(f"{out}: codes, {len(codes.codes)} chunks of {codes.codes.shape[1]} x {codes.codes.shape[2]} frames")
        return 0
    if isinstance(codes, (list, tuple)):  # multi-scale codecs (SNAC): one array per scale (.npz) or stacked (.npy)
        scales = [np.asarray(c) for c in codes]
        write_codes(out, {f"arr_{k}": c for k, c in enumerate(scales)} if out.suffix == ".npz"
                    else model.stack_codes(scales))
        print(f"{out}: codes at {len(codes)} scales, frames {[c.shape[-1] for c in scales]}")
        return 0
    codes = np.asarray(codes)
    write_codes(out, codes if out.suffix == ".npy" else {"arr_0": codes})
    kind = "codes" if np.issubdtype(codes.dtype, np.integer) else "features"
    print(f"{args.out}: {kind}, {codes.shape[0]} x {codes.shape[-1]} frames")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from . import load
    from .audio import check_audio_out, save_audio
    from .codes import read_codes, scales_from_npz
    from .errors import CodesError, LabError

    check_audio_out(args.out)
    loaded = read_codes(args.codes)
    model = load(args.model)
    require(model, "decode", "a codec", args.model)
    if isinstance(loaded, dict) and "codes" in loaded:  # chunked codes with their scales
        codes = loaded
        arrays = [codes["codes"]]
    elif isinstance(loaded, dict):  # multi-scale codes, one array per scale (or one array in an .npz)
        codes = scales_from_npz(loaded, args.codes)
        codes = codes[0] if len(codes) == 1 else codes
        arrays = codes if isinstance(codes, list) else [codes]
    else:
        codes = loaded
        arrays = [codes]
    for a in arrays:
        if not np.issubdtype(a.dtype, np.integer) and not getattr(model, "decodes_features", False):
            raise CodesError(f"{args.codes} holds {a.dtype} values; codes must be integers")
    try:
        audio = np.asarray(model.decode(codes), dtype=np.float32)
    except LabError:
        raise
    except ValueError as e:  # a vocoder's mel of the wrong shape for this model
        raise CodesError(f"{args.codes}: {e}") from e
    channels = int(getattr(getattr(model, "config", None), "audio_channels", 1) or 1)
    if not (channels > 1 and audio.ndim == 2 and audio.shape[1] == channels):  # (T, channels) kept as is
        audio = audio.reshape(-1)
    save_audio(args.out, audio, _sample_rate(model))
    print(f"{args.out}: {len(audio) / _sample_rate(model):.2f} s")
    return 0


def _write_atomic(path: str | Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` into a temporary file beside `path`, then rename it onto `path`."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


SAMPLING_FLAGS = ("temperature", "top_k", "top_p", "seed", "max_frames", "cfg_scale")


def cmd_speak(args: argparse.Namespace) -> int:
    import numpy as np

    from . import load
    from .audio import check_audio_out, save_audio
    from .errors import ArgumentError, InputError, LabError

    check_audio_out(args.out)
    model = load(args.model)
    require(model, "generate", "a text-to-speech model", args.model)
    given = {k: getattr(args, k) for k in SAMPLING_FLAGS if getattr(args, k) is not None}
    options: dict = {"voice": args.voice}
    if args.speed != 1.0:
        options["speed"] = args.speed
    style = {k: v for k, v in (("gender", args.gender), ("pitch", args.pitch)) if v is not None}
    if isinstance(args.speed, str):
        style["speed"] = args.speed
    if style and not getattr(model, "style_controls", False):
        flags = ", ".join(f"--{k} {v}" for k, v in style.items())
        raise ArgumentError(f"{flags}: {type(model).__name__} has no gender / pitch / speed-level controls; "
                            "drop them (a numeric --speed is a rate)")
    options.update(style)
    if args.voice_text is not None:
        from .stt_options import accepted_options

        if "prompt_text" not in accepted_options(model, "generate"):
            raise ArgumentError(f"--voice-text: {type(model).__name__} takes no transcript of its voice; drop the flag")
        if not args.voice:
            raise ArgumentError("--voice-text is what the --voice clip says: give the clip with --voice")
        options["prompt_text"] = args.voice_text
    if args.voice_out:
        _save_voice(model, args, options)
    if getattr(model, "samples_tokens", False):
        options.update(given)
    elif given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        print(f"note: {type(model).__name__} generates no tokens to sample (it is deterministic): {flags} ignored",
              file=sys.stderr)
    if args.codes_out and not getattr(model, "samples_tokens", False):
        raise ArgumentError(f"--codes-out: {type(model).__name__} writes no codec codes; drop the flag")
    if args.cfg_scale is not None and not getattr(model, "has_guidance", False):
        raise ArgumentError(f"--cfg-scale: {type(model).__name__} has no classifier-free guidance; drop the flag")
    if args.cfg_scale is not None and args.cfg_scale < 1:
        raise ArgumentError(f"--cfg-scale must be >= 1 (1 = no guidance), got {args.cfg_scale}")
    from .text import speak_sentences

    def progress(i: int, n: int, sentence: str, results: list) -> None:  # stderr: stdout stays the result
        if n > 1:
            seconds = sum(len(np.asarray(r.audio).reshape(-1)) / r.sample_rate for r in results)
            took = sum(r.stats.processing_time for r in results)
            print(f"speak: sentence {i + 1}/{n}: {seconds:.2f} s of audio in {took:.2f} s ({sentence[:40]!r})",
                  file=sys.stderr, flush=True)

    try:  # sentence by sentence (text.speak_sentences): bounded memory, progress on stderr
        chunks = list(speak_sentences(model, args.text, progress, **options))
    except LabError:
        raise
    except ValueError as e:
        raise InputError(f"speak --model {args.model}: {e}") from e
    if not chunks:
        raise InputError(f"{args.model} produced no audio for that text (try a larger --max-frames)")
    audio = np.concatenate([np.asarray(c.audio, dtype=np.float32).reshape(-1) for c in chunks])
    rate = chunks[0].sample_rate
    _write_atomic(args.out, lambda tmp: save_audio(tmp, audio, rate))
    if args.codes_out:
        codes = np.concatenate([c.extras["codes"] for c in chunks], axis=1)
        _write_atomic(args.codes_out, lambda tmp: np.save(tmp, codes))
        print(f"{args.codes_out}: codes, {codes.shape[0]} x {codes.shape[1]} frames")
    rtf = sum(c.stats.processing_time for c in chunks) / max(len(audio) / rate, 1e-9)
    print(f"{args.out}: {len(audio) / rate:.2f} s at {rate} Hz, {len(chunks)} chunk(s), real-time factor {rtf:.2f}")
    return 0


def _save_voice(model, args: argparse.Namespace, options: dict) -> None:
    """--voice-out: the speaker profile built from --voice written as JSON; the run then uses that profile."""
    from .errors import ArgumentError, InputError, LabError

    if not hasattr(model, "speaker_profile"):
        raise ArgumentError(f"--voice-out: {type(model).__name__} has no speaker profile to save; drop the flag")
    if not args.voice:
        raise ArgumentError("--voice-out saves the profile of a --voice (a clip to clone): give --voice")
    try:
        profile = model.speaker_profile(args.voice, options.pop("prompt_text", None))
    except LabError:
        raise
    except ValueError as e:
        raise InputError(f"--voice {args.voice}: {e}") from e
    from .models.tts.outetts.clone import save_speaker

    save_speaker(profile, args.voice_out)
    print(f"{args.voice_out}: speaker profile, {len(profile['words'])} words", file=sys.stderr)
    options["voice"] = profile


def cmd_new_port(args: argparse.Namespace) -> int:
    from .scaffold import ScaffoldError, new_port

    root = Path(args.root) if args.root else Path(__file__).resolve().parent.parent
    try:
        written = new_port(args.name, args.family, args.reference, root)
    except ScaffoldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f"next: fill in models/{args.family}/{args.name}/ (start from convert.suggest_keymap and "
          f"parity.compare_modules), then `pytest tests/models/{args.family}/test_{args.name}.py`")
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
    from .atomic import atomic_folder
    from .convert.save import save_model

    out = Path(args.out)
    with atomic_folder(out) as tmp:  # refuses an existing file / non-empty folder first; renamed when complete
        model = load(args.model, quantize=args.quantize) if args.quantize else load(args.model)
        save = save_model if args.layout == "mlx" else community_exporter(args.model)
        save(model, tmp)
    print(out)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401
        import uvicorn  # noqa: F401

        from .server import ServerConfig, serve
    except ImportError as e:
        print(f"error: the server needs its extra ({e.name} is missing): pip install 'mlx-audio-lab[server]'",
              file=sys.stderr)
        return 2
    models = tuple(m.strip() for m in (args.models or "").split(",") if m.strip())
    config = ServerConfig(host=args.host, port=args.port, models=models, max_upload_mb=args.max_upload_mb,
                          max_concurrency=args.max_concurrency, max_queue=args.max_queue,
                          cors_origins=tuple(o.strip() for o in (args.cors or "").split(",") if o.strip()),
                          vad=args.vad, fixtures=not args.no_fixtures)
    from .server.manager import ModelManager

    manager = ModelManager(config)
    unknown = [m for m in models if m not in manager.entries]
    if unknown:
        print(f"error: --models names unknown models {', '.join(unknown)}; known: {', '.join(manager.entries)} "
              "(or a model folder)", file=sys.stderr)
        return 2
    print(f"serving on http://{args.host}:{args.port}/ (OpenAI API under /v1; Ctrl-C stops)", file=sys.stderr)
    serve(config, manager)
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
    from .errors import ArgumentError

    raise ArgumentError(f"{spec.model_type} has no mlx-community exporter; use --layout mlx")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlx-audio-lab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="registered model types")
    m.add_argument("--json", action="store_true")
    m.set_defaults(fn=cmd_models)

    t = sub.add_parser("transcribe", help="speech to text")
    t.add_argument("--model", required=True, help="folder, hub repo id, or bundled name (whisper-tiny.en)")
    t.add_argument("--beam-size", type=beam_size, default=None,
                   help="beam width 1..64; 1 is greedy (default: the model's, Whisper 5)")
    t.add_argument("--language", default=None, help="language code (multilingual models); default: detected")
    t.add_argument("--task", choices=["transcribe", "translate"], default=None, help="Whisper: translate to English")
    t.add_argument("--initial-prompt", default=None, help="text before every window (spelling, style, names)")
    t.add_argument("--prefix", default=None, help="text forced as the start of the first window's transcript")
    t.add_argument("--temperature", type=non_negative_float, nargs="+", default=None,
                   help="temperatures tried in turn when a window fails the thresholds (e.g. 0 0.2 0.4 0.6 0.8 1)")
    t.add_argument("--compression-ratio-threshold", type=positive_float, default=None,
                   help="fall back when a window's gzip compression ratio is above this (openai-whisper: 2.4)")
    t.add_argument("--logprob-threshold", type=finite_float, default=None,
                   help="fall back when a window's average log-probability is below this (openai-whisper: -1)")
    t.add_argument("--no-speech-threshold", type=probability, default=None,
                   help="skip a window as silence above this no-speech probability (with --logprob-threshold)")
    t.add_argument("--condition-on-previous-text", action="store_true",
                   help="give each window the previous window's text as its prompt")
    t.add_argument("--seed", type=int, default=None, help="seed of the sampling draws at temperatures > 0")
    t.add_argument("--no-timestamps", action="store_true")
    t.add_argument("--json", action="store_true")
    t.add_argument("--vad", action="store_true", help="transcribe the speech spans only (faster-whisper's vad_filter)")
    t.add_argument("--vad-model", default="silero-vad", help="VAD for --vad (default silero-vad)")
    t.add_argument("--word-timestamps", action="store_true", help="time every word (cross attention + DTW)")
    t.add_argument("--output-format", choices=["txt", "srt", "vtt", "tsv", "json", "all"], default=None,
                   help="write the transcript of each file as <stem>.<format> into --output-dir")
    t.add_argument("--output-dir", default=None, help="folder for --output-format files (default: .)")
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
    e.add_argument("--bandwidth", type=positive_float, default=None, help="kbps, for codecs with several bandwidths")
    e.add_argument("audio")
    e.set_defaults(fn=cmd_encode)

    d = sub.add_parser("decode", help="codec: codes (.npy) -> audio; a vocoder (BigVGAN, Vocos mel) takes a "
                                      "float log-mel (.npy, n_mels x frames) instead")
    d.add_argument("--model", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("codes", help="integer codes (.npy / .npz), or a vocoder's log-mel (n_mels, frames) .npy")
    d.set_defaults(fn=cmd_decode)

    v = sub.add_parser("vad", help="voice activity: speech segments in seconds (silero-vad's defaults)")
    v.add_argument("--model", default="silero-vad")
    v.add_argument("--sample-rate", type=int, default=16000, help="rate the audio is read at (16000 or 8000)")
    v.add_argument("--threshold", type=float, default=0.5)
    v.add_argument("--min-speech-duration-ms", type=float, default=250)
    v.add_argument("--max-speech-duration-s", type=float, default=float("inf"))
    v.add_argument("--min-silence-duration-ms", type=float, default=100)
    v.add_argument("--speech-pad-ms", type=float, default=30)
    v.add_argument("--json", action="store_true")
    v.add_argument("audio", nargs="+")
    v.set_defaults(fn=cmd_vad)

    s = sub.add_parser("speak", help="text to speech")
    s.add_argument("--model", required=True)
    s.add_argument("--voice", default=None, help="a voice name, speaker id or reference clip (model-dependent)")
    s.add_argument("--voice-text", default=None, help="what the --voice clip says (CSM's context turn, Spark-TTS)")
    s.add_argument("--voice-out", default=None, help="save the speaker profile built from --voice as JSON (OuteTTS)")
    s.add_argument("--speed", type=speed_or_level, default=1.0,
                   help="a rate, or a level (Spark-TTS: very_low .. very_high)")
    s.add_argument("--gender", choices=("female", "male"), default=None, help="voice creation (Spark-TTS)")
    s.add_argument("--pitch", choices=STYLE_LEVELS, default=None, help="voice creation (Spark-TTS)")
    s.add_argument("--out", required=True)
    s.add_argument("--temperature", type=float, default=None, help="0 is greedy (token models only)")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--seed", type=int, default=None, help="seed of the sampling draws")
    s.add_argument("--max-frames", type=int, default=None, help="stop after N codec frames")
    s.add_argument("--codes-out", default=None, help="save the codes (.npy, codebooks x frames) for `decode`")
    s.add_argument("--cfg-scale", type=float, default=None,
                   help="guidance scale of models with classifier-free guidance (default: the checkpoint's "
                        "generation config; 1 = no guidance)")
    s.add_argument("text")
    s.set_defaults(fn=cmd_speak)

    n = sub.add_parser("new-port", help="scaffold a new port (model folder, test, notebook) and register it")
    n.add_argument("name", help="model type, lower_snake_case")
    n.add_argument("--family", required=True, choices=["stt", "tts", "codecs", "vad", "sts"])
    n.add_argument("--reference", required=True, help="the PyTorch class it is proven against, package.module.Class")
    n.add_argument("--root", default=None, help="checkout to write into (default: this package's checkout)")
    n.set_defaults(fn=cmd_new_port)

    v = sub.add_parser("serve", help="OpenAI-compatible HTTP server with a page to try the models")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--models", default="", help="comma-separated models to load at start-up "
                                                "(e.g. whisper-tiny.en,kokoro-82m); others load on first use")
    v.add_argument("--max-upload-mb", type=float, default=25.0, help="largest request body (413 above it)")
    v.add_argument("--max-concurrency", type=int, default=2, help="requests per model admitted at once")
    v.add_argument("--max-queue", type=int, default=8, help="requests per model waiting for a slot (429 above it)")
    v.add_argument("--cors", default="", help="allowed origins, comma-separated ('*' for any); default none")
    v.add_argument("--vad", choices=["auto", "energy", "silero"], default="auto",
                   help="utterance cutting of the realtime websocket (auto: Silero VAD when installed)")
    v.add_argument("--no-fixtures", action="store_true", help="do not offer the fixture:<type> test models")
    v.set_defaults(fn=cmd_serve)

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
    return guarded(args.fn, args)  # the error boundary: `error: ...` and exit 2, or a traceback for a bug


if __name__ == "__main__":
    sys.exit(main())
