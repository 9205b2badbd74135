"""POST /v1/audio/speech (text -> audio, streamed sentence by sentence as the model speaks) and GET voices.

wav and pcm stream: the first sentence's audio leaves before the next sentence is generated (a WAV header
with an open-ended length first, then 16-bit PCM). flac and mp3 are encoded once the whole text is spoken
(libsndfile writes their headers at the end).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import warnings
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, StreamingResponse

from .errors import APIError, bad_request

router = APIRouter()
MEDIA = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac", "mp3": "audio/mpeg"}


def formats() -> tuple[str, ...]:
    """Response formats this machine can write (mp3 only where libsndfile has an MP3 encoder)."""
    import soundfile as sf

    return ("wav", "flac", "pcm") + (("mp3",) if "MP3" in sf.available_formats() else ())


def sentences(text: str) -> list[str]:
    """The input cut after sentence ends (. ! ? ; : and newlines), each with its punctuation."""
    parts = re.split(r"(?<=[.!?;:])\s+|\n+", text.strip())
    return [p.strip() for p in parts if p.strip()]


def pcm16(audio: np.ndarray) -> bytes:
    """float32 [-1, 1] -> 16-bit little-endian PCM."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int, n_bytes: int = 0xFFFFFFFF - 36) -> bytes:
    """A 44-byte PCM16 mono WAV header; the default length is open-ended (read until the end of stream)."""
    return (b"RIFF" + struct.pack("<I", min(n_bytes + 36, 0xFFFFFFFF)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", n_bytes))


def encode_whole(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), sample_rate, format=fmt.upper(),
             subtype="PCM_16" if fmt == "flac" else None)
    return buf.getvalue()


async def read_json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise APIError(400, f"the body must be JSON ({err.__class__.__name__}: {err})", None, "invalid_json") from err
    if not isinstance(body, dict):
        raise APIError(400, "the body must be a JSON object such as {\"model\": ..., \"input\": ..., \"voice\": ...}",
                       None, "invalid_json")
    return body


def parse_speech(body: dict[str, Any], max_chars: int) -> dict[str, Any]:
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("'input' must be non-empty text", "input", "empty_input")
    if len(text) > max_chars:
        raise bad_request(f"'input' has {len(text)} characters; the limit is {max_chars}", "input", "input_too_long")
    fmt = body.get("response_format") or "wav"
    if fmt not in formats():
        raise bad_request(f"unknown response_format {str(fmt)[:40]!r}; choose one of {', '.join(formats())}",
                          "response_format")
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= float(speed) <= 4.0:
        raise bad_request(f"'speed' must be a number from 0.25 to 4.0, got {str(speed)[:20]!r}", "speed")
    voice = body.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise bad_request("'voice' must be a voice name (GET /v1/audio/voices lists them)", "voice")
    return {"input": text, "format": fmt, "speed": float(speed), "voice": voice}


def voice_names(model: Any) -> list[str]:
    voices = getattr(model, "voices", None)
    return list(voices.names) if voices is not None else []


def speak(model: Any, text: str, voice: str, speed: float) -> list[Any]:
    """All chunks of one sentence (on the compute thread)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(model.generate(text, voice=voice, speed=speed))


PATH = {"family": "tts", "runs": "mlx_audio_lab.server.speech:speak", "calls": "generate",
        "writes": "mlx_audio_lab.server.speech:_stream", "formats": list(MEDIA)}  # see transcription.PATH


@router.post("/v1/audio/speech", openapi_extra={"x-request-path": PATH})
async def speech(request: Request):
    app = request.app.state
    body = await read_json(request)
    req = parse_speech(body, app.config.max_input_chars)
    entry = app.manager.entry(body.get("model"), "tts")
    slot = app.manager.slot(entry)
    await slot.__aenter__()
    try:
        entry, model = await app.manager.get(entry.id, "tts")
        names = voice_names(model)
        voice = req["voice"] or (names[0] if names else None)
        if voice not in names:
            raise bad_request(f"unknown voice {str(voice)[:40]!r} for {entry.id}; voices: {', '.join(names)}", "voice",
                              "unknown_voice")
        parts = sentences(req["input"])
        try:  # the first sentence before answering: G2P and model errors become a 400, not a broken stream
            first = await app.manager.run(speak, model, parts[0], voice, req["speed"])
        except ValueError as err:
            raise bad_request(f"cannot speak the input: {err}", "input", "invalid_input") from err
    except BaseException:
        await slot.__aexit__(None, None, None)
        raise
    rate = first[0].sample_rate
    stream = _stream(app, entry.id, model, parts, first, voice, req, rate, slot)
    return StreamingResponse(stream, media_type=MEDIA[req["format"]],
                             headers={"X-Sample-Rate": str(rate), "X-Voice": voice})


async def _stream(app: Any, model_id: str, model: Any, parts: list[str], first: list[Any], voice: str,
                  req: dict[str, Any], rate: int, slot: Any) -> AsyncIterator[bytes]:
    """Audio bytes sentence by sentence; the model's slot is held until the last sentence is spoken."""
    fmt, whole = req["format"], []
    try:
        if fmt == "wav":
            yield wav_header(rate)
        chunks = first
        for i in range(len(parts)):
            if i > 0:
                try:
                    chunks = await app.manager.run(speak, model, parts[i], voice, req["speed"])
                except ValueError:  # a sentence with nothing speakable (e.g. only symbols): skipped
                    continue
            for c in chunks:
                audio = np.asarray(c.audio, np.float32).reshape(-1)
                app.metrics.observe_rtf(model_id, c.stats.processing_time, c.stats.audio_duration)
                if fmt in ("wav", "pcm"):
                    yield pcm16(audio)
                else:
                    whole.append(audio)
            await asyncio.sleep(0)
        if whole:
            yield await asyncio.to_thread(encode_whole, np.concatenate(whole), rate, fmt)
    finally:
        await slot.__aexit__(None, None, None)


@router.get("/v1/audio/voices")
async def voices(request: Request, model: str | None = None):
    """Voices of one TTS model (`?model=`), or of every TTS model that is loaded."""
    app = request.app.state
    ids = [model] if model else [e.id for e in app.manager.entries.values() if e.family == "tts" and e.model]
    data = []
    for model_id in ids:
        _, m = await app.manager.get(model_id, "tts")
        data += [{"id": name, "object": "voice", "model": model_id} for name in voice_names(m)]
    return JSONResponse({"object": "list", "data": data})
