"""POST /v1/audio/transcriptions and /v1/audio/translations: multipart upload -> transcript in OpenAI's formats.

The upload is written to a temporary file and handed to the model's `transcribe` exactly as the CLI hands it
a path, so both give the same transcript for the same clip and options. `stream=true` answers with
server-sent events: one `transcript.text.delta` per segment, then `transcript.text.done`.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ..results import Transcript
from ..stt_options import accepted_options
from ..writers import render
from .errors import APIError, bad_request

router = APIRouter()
FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("segment", "word")
TEXT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}


async def read_form(request: Request) -> dict[str, Any]:
    """The form as {name: value or [values]}; a clear 400 when the body is not a form."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise APIError(400, f"send multipart/form-data with a 'file' part (got content-type {ctype or 'none'!r})",
                       "file", "invalid_content_type")
    try:
        form = await request.form(max_files=1, max_fields=32)
    except APIError:
        raise
    except Exception as err:  # malformed multipart bodies
        raise APIError(400, f"cannot parse the multipart body ({err})", "file", "invalid_multipart") from err
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        key = key.removesuffix("[]")
        if key == "timestamp_granularities":
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out


def _float(form: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise bad_request(f"'{name}' must be a number, got {str(raw)[:40]!r}", name) from None
    if not lo <= value <= hi:
        raise bad_request(f"'{name}' must be between {lo:g} and {hi:g}, got {value:g}", name)
    return value


def _bool(form: dict[str, Any], name: str) -> bool:
    raw = str(form.get(name, "false")).strip().lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise bad_request(f"'{name}' must be true or false, got {raw[:20]!r}", name)
    return raw in ("true", "1")


def parse_options(form: dict[str, Any], beam_default: int) -> dict[str, Any]:
    """Validated request options (a 400 naming the parameter for each bad one)."""
    fmt = str(form.get("response_format") or "json")
    if fmt not in FORMATS:
        raise bad_request(f"unknown response_format {fmt[:40]!r}; choose one of {', '.join(FORMATS)}",
                          "response_format")
    grains = [str(g) for g in form.get("timestamp_granularities", [])]
    for g in grains:
        if g not in GRANULARITIES:
            raise bad_request(f"unknown timestamp granularity {g[:40]!r}; choose segment or word",
                              "timestamp_granularities[]")
    if grains and fmt != "verbose_json":
        raise bad_request("timestamp_granularities needs response_format=verbose_json", "timestamp_granularities[]")
    language = form.get("language") or None
    if language is not None and not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z]{2,4})?", str(language)):
        raise bad_request(f"language must be a code such as 'en', got {str(language)[:40]!r}", "language")
    beam = form.get("beam_size") or beam_default
    if not str(beam).isdigit() or not 1 <= int(beam) <= 16:
        raise bad_request(f"beam_size must be an integer from 1 to 16, got {str(beam)[:20]!r}", "beam_size")
    return {"response_format": fmt, "granularities": grains or ["segment"], "language": language,
            "prompt": str(form.get("prompt") or ""), "temperature": _float(form, "temperature", 0.0, 0.0, 1.0),
            "stream": _bool(form, "stream"), "beam_size": int(beam)}


async def upload_bytes(form: dict[str, Any]) -> tuple[bytes, str, str]:
    """The uploaded file's bytes, a safe suffix and its name; 400 when missing, not a file or empty."""
    part = form.get("file")
    if part is None:
        raise APIError(400, "missing 'file': upload the audio as a multipart file part", "file", "missing_file")
    if not isinstance(part, UploadFile):
        raise APIError(400, "'file' must be a file part (filename=...), not a text field", "file", "invalid_file")
    data = await part.read()
    if not data:
        raise APIError(400, f"'file' ({part.filename or 'upload'}) is empty: 0 bytes", "file", "empty_file")
    suffix = Path(part.filename or "").suffix.lower()
    name = Path(part.filename or "upload").name[:100]
    return data, suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".bin", name


def transcribe_kwargs(model: Any, options: dict[str, Any], task: str) -> tuple[dict[str, Any], list[str]]:
    """Keyword arguments the model's `transcribe` takes, and the requested options it cannot honour."""
    accepted = accepted_options(model)
    kwargs: dict[str, Any] = {}
    ignored: list[str] = []
    prompt_name = "initial_prompt" if "initial_prompt" in accepted else "prompt"  # Whisper's name for it
    for name, value, default in (("language", options["language"], None), ("beam_size", options["beam_size"], None),
                                 ("task", task, "transcribe"), ("temperature", options["temperature"], 0.0),
                                 (prompt_name, options["prompt"] or None, None)):
        if name in accepted and value != default:
            kwargs[name] = value
        elif value not in (default, None) and name != "beam_size":
            ignored.append(name.removeprefix("initial_"))
    if "word" in options["granularities"] and "word_timestamps" in accepted:
        kwargs["word_timestamps"] = True
    if task == "translate" and "task" not in accepted:
        raise bad_request(f"{type(model).__name__} cannot translate (it has no task option)", "model",
                          "translation_unsupported")
    return kwargs, ignored


def run_transcription(model: Any, data: bytes, suffix: str, kwargs: dict[str, Any], name: str) -> Transcript:
    """Write the upload to a temporary file and transcribe it (on the compute thread)."""
    from ..audio import AudioError

    with tempfile.TemporaryDirectory(prefix="mlx-audio-lab-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # resampling / downmix notes
            try:
                return model.transcribe(str(path), **kwargs)
            except AudioError as err:  # the message names the upload, not the temporary path
                raise AudioError(str(err).replace(f"'{path}'", repr(name)).replace(str(path), repr(name))) from None


def verbose(t: Transcript, task: str, temperature: float, words: bool) -> dict[str, Any]:
    """OpenAI's verbose_json: task, language, duration, text, segments (and words when timed and asked)."""
    segs = []
    for i, s in enumerate(t.segments):
        text = s.text if s.text.startswith(" ") else " " + s.text
        raw = s.text.strip().encode()
        segs.append({"id": i, "seek": int(round(s.start * 100)), "start": round(s.start, 3), "end": round(s.end, 3),
                     "text": text, "tokens": list(s.tokens), "temperature": temperature,
                     "avg_logprob": None, "compression_ratio": round(len(raw) / max(len(zlib.compress(raw)), 1), 3)
                     if raw else 0.0, "no_speech_prob": None})
    out: dict[str, Any] = {"task": task, "language": t.language or "", "duration": round(t.stats.audio_duration, 3),
                           "text": t.text, "segments": segs,
                           "usage": {"type": "duration", "seconds": round(t.stats.audio_duration, 3)}}
    timed = [w for s in t.segments for w in s.words]
    if words and timed:
        out["words"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in timed]
    return out


def respond(t: Transcript, options: dict[str, Any], task: str, headers: dict[str, str]) -> Response:
    fmt = options["response_format"]
    if fmt == "json":
        usage = {"type": "duration", "seconds": round(t.stats.audio_duration, 3)}
        return JSONResponse({"text": t.text, "usage": usage}, headers=headers)
    if fmt == "verbose_json":
        words = "word" in options["granularities"]
        if words and not any(s.words for s in t.segments):
            headers["X-Unsupported-Options"] = ", ".join(filter(None, [headers.get("X-Unsupported-Options"),
                                                                        "timestamp_granularities=word"]))
        return JSONResponse(verbose(t, task, options["temperature"], words), headers=headers)
    body = {"text": t.text + "\n", "srt": render(t, "srt"), "vtt": render(t, "vtt")}[fmt]
    return PlainTextResponse(body, media_type=TEXT_TYPES[fmt], headers=headers)


def sse(t: Transcript) -> StreamingResponse:
    """Server-sent events: one text delta per segment, then the whole text."""
    def events():
        for i, s in enumerate(t.segments):
            delta = (" " if i else "") + s.text.strip()
            yield f"data: {json.dumps({'type': 'transcript.text.delta', 'delta': delta})}\n\n"
        yield f"data: {json.dumps({'type': 'transcript.text.done', 'text': t.text})}\n\n"
        yield "data: [DONE]\n\n"
    return StreamingResponse(events(), media_type="text/event-stream")


async def handle(request: Request, task: str) -> Response:
    app = request.app.state
    form = await read_form(request)
    options = parse_options(form, app.config.default_beam_size)
    entry = app.manager.entry(form.get("model"), "stt")  # 404 / 400 before reading audio
    data, suffix, name = await upload_bytes(form)
    async with app.manager.slot(entry):
        entry, model = await app.manager.get(entry.id, "stt")
        kwargs, ignored = transcribe_kwargs(model, options, task)
        from ..audio import AudioError

        try:
            t = await app.manager.run(run_transcription, model, data, suffix, kwargs, name)
        except AudioError as err:
            raise APIError(400, f"cannot use the uploaded audio: {err}", "file", "invalid_audio") from err
        except ValueError as err:
            raise bad_request(str(err), None, "invalid_option") from err
    app.metrics.observe_rtf(entry.id, t.stats.processing_time, t.stats.audio_duration)
    headers = {"X-Unsupported-Options": ", ".join(ignored)} if ignored else {}
    if options["stream"]:
        return sse(t)
    return respond(t, options, task, headers)


# What each model route does, declared beside it and published in /openapi.json (`x-request-path`), so the
# notebook's request-path figure is read from the live app: family -> the compute-thread function and the model
# method it calls -> the function that writes the response, in these formats.
PATH = {"family": "stt", "runs": "mlx_audio_lab.server.transcription:run_transcription", "calls": "transcribe",
        "writes": "mlx_audio_lab.server.transcription:respond", "formats": list(FORMATS)}


@router.post("/v1/audio/transcriptions", openapi_extra={"x-request-path": PATH})
async def transcriptions(request: Request) -> Response:
    return await handle(request, "transcribe")


@router.post("/v1/audio/translations", openapi_extra={"x-request-path": PATH})
async def translations(request: Request) -> Response:
    return await handle(request, "translate")
