"""Websocket /v1/audio/transcriptions/realtime: 16-bit PCM chunks in, partial and final transcripts out.

Protocol: connect with `?model=...&sample_rate=16000[&language=en]`; send binary messages of mono 16-bit
little-endian PCM; send `{"type": "commit"}` to end the current utterance now, `{"type": "close"}` to finish.
The server sends `{"type": "ready"}`, then `{"type": "speech_started", "start"}`,
`{"type": "partial", "text"}` while an utterance grows, `{"type": "final", "text", "start", "end",
"segments"}` when it ends, and `{"type": "error", "message"}` for bad input (the socket stays open).
Utterances are cut by a speech detector: Silero VAD when the port is installed (`vad="auto"|"silero"`),
else frame energy. Both give per-frame speech probabilities to the same `Segmenter`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..audio import load_audio
from ..stt_options import accepted_options
from .errors import APIError

router = APIRouter()


class SpeechDetector(Protocol):
    """Per-frame speech probabilities of a stream; `frame` is samples per probability."""

    frame: int

    def feed(self, samples: np.ndarray) -> np.ndarray: ...


class EnergyDetector:
    """Speech where a 30 ms frame's RMS level is above `threshold_db` dBFS (probability 1, else 0)."""

    def __init__(self, sample_rate: int = 16000, threshold_db: float = -40.0, frame_s: float = 0.03):
        self.frame = int(sample_rate * frame_s)
        self.threshold = 10 ** (threshold_db / 20)
        self.pending = np.zeros(0, np.float32)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.pending, samples])
        n = len(x) // self.frame
        self.pending = x[n * self.frame:]
        rms = np.sqrt(np.mean(x[: n * self.frame].reshape(n, self.frame) ** 2, axis=1)) if n else np.zeros(0)
        return (rms > self.threshold).astype(np.float32)


class StreamDetector:
    """A VAD model's streaming detector (`model.stream(rate)` with `.feed`), e.g. the Silero VAD port."""

    def __init__(self, model: Any, sample_rate: int = 16000):
        self.stream = model.stream(sample_rate)
        branch = getattr(self.stream, "branch", None)
        self.frame = int(getattr(getattr(branch, "cfg", None), "window", 512))

    def feed(self, samples: np.ndarray) -> np.ndarray:
        return np.asarray(self.stream.feed(samples), np.float32)


@dataclass
class Segmenter:
    """Cuts a stream into utterances from speech probabilities: speech starts at `threshold`, ends after
    `silence_s` below it; shorter than `min_speech_s` is dropped; longer than `max_speech_s` is cut."""

    detector: SpeechDetector
    sample_rate: int = 16000
    threshold: float = 0.5
    silence_s: float = 0.5
    min_speech_s: float = 0.2
    max_speech_s: float = 25.0
    pad_s: float = 0.2
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    probs_at: int = 0  # samples covered by probabilities so far
    start: int | None = None  # utterance start (samples), while in speech
    last_speech: int = 0

    def feed(self, samples: np.ndarray) -> list[tuple[str, int, int]]:
        """Add samples; returns events ("start", s, s) and ("end", start, end) in samples."""
        self.audio = np.concatenate([self.audio, samples])
        events: list[tuple[str, int, int]] = []
        for p in self.detector.feed(samples):
            at = self.probs_at
            self.probs_at += self.detector.frame
            if p >= self.threshold:
                if self.start is None:
                    self.start = max(at - int(self.pad_s * self.sample_rate), 0)
                    events.append(("start", self.start, self.start))
                self.last_speech = self.probs_at
            if self.start is not None:
                quiet = self.probs_at - self.last_speech >= self.silence_s * self.sample_rate
                long = self.probs_at - self.start >= self.max_speech_s * self.sample_rate
                if quiet or long:
                    events += self.close(self.last_speech if quiet else self.probs_at)
        return events

    def close(self, end: int | None = None) -> list[tuple[str, int, int]]:
        """End the current utterance (at `end`, default: now); dropped when shorter than `min_speech_s`."""
        if self.start is None:
            return []
        start, end = self.start, min((end or self.probs_at) + int(self.pad_s * self.sample_rate), len(self.audio))
        self.start = None
        if end - start < self.min_speech_s * self.sample_rate:
            return []
        return [("end", start, end)]

    def utterance(self, start: int, end: int | None = None) -> np.ndarray:
        return self.audio[start: len(self.audio) if end is None else end]


def detector_factory(vad: str, manager: Any) -> Callable[[int], Any]:
    """`rate -> SpeechDetector`: the Silero VAD port when asked for (or "auto" and installed), else energy."""
    if vad in ("silero", "auto") and "silero-vad" in manager.entries:
        async def silero(rate: int) -> SpeechDetector:
            _, model = await manager.get("silero-vad", "vad")
            return StreamDetector(model, rate)
        return silero
    if vad == "silero":
        raise RuntimeError("vad='silero' but the Silero VAD port (bundled 'silero-vad') is not installed")

    async def energy(rate: int) -> SpeechDetector:
        return EnergyDetector(rate)
    return energy


async def _transcribe(app: Any, entry: Any, model: Any, audio: np.ndarray, rate: int, language: str | None):
    wav = load_audio(audio, 16000, source_rate=rate) if rate != 16000 else audio
    kwargs = {"language": language} if language and "language" in accepted_options(model) else {}
    async with app.manager.slot(entry):
        return await app.manager.run(model.transcribe, wav, **kwargs)


@router.websocket("/v1/audio/transcriptions/realtime")
async def realtime(ws: WebSocket) -> None:
    app = ws.app.state
    await ws.accept()
    q = ws.query_params
    try:
        rate = int(q.get("sample_rate", "16000"))
        if not 8000 <= rate <= 48000:
            raise ValueError
    except ValueError:
        await ws.send_json({"type": "error", "message": "sample_rate must be an integer from 8000 to 48000"})
        await ws.close(code=1008)
        return
    try:
        entry, model = await app.manager.get(q.get("model"), "stt")
        detector = await app.detector(rate)
    except APIError as err:
        await ws.send_json({"type": "error", "message": err.message, "code": err.code})
        await ws.close(code=1008)
        return
    seg = Segmenter(detector, rate)
    language = q.get("language") or None
    partial_every = float(q.get("partial_interval", "1.0"))
    partial: asyncio.Task | None = None
    next_partial = 0

    async def send_partial(start: int) -> None:
        audio = seg.utterance(start)
        t = await _transcribe(app, entry, model, audio, rate, language)
        if seg.start == start:  # still the same utterance
            await ws.send_json({"type": "partial", "text": t.text, "start": start / rate, "end": len(audio) / rate
                                + start / rate})

    async def finish(start: int, end: int) -> None:
        t = await _transcribe(app, entry, model, seg.utterance(start, end), rate, language)
        at = start / rate
        segments = [{"start": round(at + s.start, 3), "end": round(at + s.end, 3), "text": s.text} for s in t.segments]
        await ws.send_json({"type": "final", "text": t.text, "start": round(at, 3), "end": round(end / rate, 3),
                            "segments": segments})

    await ws.send_json({"type": "ready", "model": entry.id, "sample_rate": rate, "detector": type(detector).__name__})
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            events: list[tuple[str, int, int]] = []
            if msg.get("bytes") is not None:
                data = msg["bytes"]
                if len(data) % 2:
                    await ws.send_json({"type": "error", "message": "PCM chunks must be 16-bit: an even byte count"})
                    continue
                samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
                events = seg.feed(samples)
            else:
                try:
                    cmd = json.loads(msg.get("text") or "")
                    kind = cmd.get("type") if isinstance(cmd, dict) else None
                except json.JSONDecodeError:
                    kind = None
                if kind not in ("commit", "close"):
                    await ws.send_json({"type": "error", "message": "text messages: {\"type\": \"commit\"} or "
                                                                   "{\"type\": \"close\"}; audio goes as binary PCM"})
                    continue
                events = seg.close()
                if kind == "close":
                    for _, s, e in events:
                        await finish(s, e)
                    await ws.send_json({"type": "closed"})
                    await ws.close()
                    return
            for kind, s, e in events:
                if kind == "start":
                    await ws.send_json({"type": "speech_started", "start": round(s / rate, 3)})
                    next_partial = s + int(partial_every * rate)
                else:
                    if partial is not None:
                        await partial
                        partial = None
                    await finish(s, e)
            if (seg.start is not None and partial_every > 0 and seg.probs_at >= next_partial
                    and (partial is None or partial.done())):
                partial = asyncio.create_task(send_partial(seg.start))
                next_partial = seg.probs_at + int(partial_every * rate)
    except WebSocketDisconnect:
        return
    finally:
        if partial is not None and not partial.done():
            partial.cancel()
