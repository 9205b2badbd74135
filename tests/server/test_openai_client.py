"""The server through the official `openai` client: transcripts in every format equal the CLI's, speech to a
file and streamed sentence by sentence, voices, and models listed, loaded and unloaded (memory given back)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mlx_audio_lab.results import RunStats, Segment, Transcript
from mlx_audio_lab.writers import render

ROOT = Path(__file__).resolve().parents[2]

STT, TTS = "whisper-tiny.en", "kokoro-82m"


@pytest.fixture(scope="module")
def cli_transcript(clip) -> dict:
    """`mlx-audio-lab transcribe --json` on the same clip with the same (default) options."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "mlx_audio_lab", "transcribe", "--model", STT, "--json", str(clip)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _as_transcript(d: dict) -> Transcript:
    segs = [Segment(s["start"], s["end"], s["text"], s["tokens"]) for s in d["segments"]]
    return Transcript(d["text"], segs, d["language"], d["tokens"], RunStats(16000, d["audio_duration"]))


def test_transcripts_in_every_format_equal_the_cli(client, clip, cli_transcript):
    want = _as_transcript(cli_transcript)
    assert "lazy dog" in want.text  # the real tiny.en hears the clip

    with open(clip, "rb") as f:
        got = client.audio.transcriptions.create(model=STT, file=f)  # json
    assert got.text == want.text

    with open(clip, "rb") as f:
        verbose = client.audio.transcriptions.create(model=STT, file=f, response_format="verbose_json",
                                                     timestamp_granularities=["segment"])
    assert verbose.text == want.text and verbose.language == "en"
    assert verbose.duration == pytest.approx(want.stats.audio_duration, abs=1e-3)
    assert [(s.start, s.end, s.text.strip(), s.tokens) for s in verbose.segments] == \
           [(pytest.approx(s.start, abs=1e-3), pytest.approx(s.end, abs=1e-3), s.text.strip(), s.tokens)
            for s in want.segments]

    for fmt, expected in (("text", want.text + "\n"), ("srt", render(want, "srt")), ("vtt", render(want, "vtt"))):
        with open(clip, "rb") as f:
            body = client.audio.transcriptions.create(model=STT, file=f, response_format=fmt)
        assert body == expected, fmt


def test_transcription_streamed_as_server_sent_events(client, clip, cli_transcript):
    with open(clip, "rb") as f:
        events = list(client.audio.transcriptions.create(model=STT, file=f, stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert events[-1].type == "transcript.text.done" and events[-1].text == cli_transcript["text"]
    assert "".join(deltas).strip() == cli_transcript["text"] and len(deltas) == len(cli_transcript["segments"])


def test_english_only_model_refuses_translation(client, clip):
    import openai

    with open(clip, "rb") as f, pytest.raises(openai.BadRequestError, match="English-only"):
        client.audio.translations.create(model=STT, file=f)


def test_speech_to_a_file(client, tmp_path):
    voices = client.get("/audio/voices", cast_to=object, options={"params": {"model": TTS}})
    names = [v["id"] for v in voices["data"]]
    assert "jm_kumo" in names and all(v["model"] == TTS for v in voices["data"])
    out = tmp_path / "speech.wav"
    resp = client.audio.speech.create(model=TTS, voice="jm_kumo", input="Good morning.", response_format="wav")
    resp.write_to_file(out)
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 24000 and 0.4 < len(audio) / rate < 5.0
    assert np.sqrt(np.mean(audio**2)) > 0.01  # speech, not silence

    flac = client.audio.speech.create(model=TTS, voice="jm_kumo", input="Good morning.", response_format="flac")
    again, rate2 = sf.read(io.BytesIO(flac.content), dtype="float32")
    assert rate2 == 24000 and np.abs(again - audio).max() < 1e-3  # same audio, 16-bit FLAC


def test_speech_streams_sentence_by_sentence(client):
    text = "The ferry left. The lights went out. The night was calm."
    arrivals: list[tuple[float, bytes]] = []
    t0 = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(model=TTS, voice="jm_kumo", input=text,
                                                            response_format="pcm") as resp:
        assert resp.headers["x-sample-rate"] == "24000"
        for chunk in resp.iter_bytes():
            arrivals.append((time.perf_counter() - t0, chunk))
    pcm = np.frombuffer(b"".join(c for _, c in arrivals), "<i2").astype(np.float32) / 32768
    first_at, done_at = arrivals[0][0], arrivals[-1][0]
    # the first sentence's audio arrived while the other two were still being generated (each takes > 0.1 s)
    assert len(arrivals[0][1]) < 2 * len(pcm) and done_at - first_at > 0.1
    assert len(pcm) / 24000 > 1.5 and np.sqrt(np.mean(pcm**2)) > 0.01


def test_models_list_load_and_unload_give_memory_back(client, server):
    import httpx

    ids = [m.id for m in client.models.list().data]
    assert {STT, TTS, "fixture:whisper"} <= set(ids)
    model = "fixture:whisper"
    client.models.delete(model)  # unloaded to start from
    base = httpx.get(f"{server.url}/health").json()["active_memory_mb"]
    loaded = client.post("/models", cast_to=object, body={"model": model})
    assert loaded["id"] == model and loaded["loaded"] is True
    assert client.models.retrieve(model).loaded is True
    during = httpx.get(f"{server.url}/health").json()["active_memory_mb"]
    assert during > base + 5  # the fixture's weights (its 51864 x 64 embedding alone is 13 MB)
    deleted = client.models.delete(model)
    assert deleted.deleted is True and deleted.id == model
    after = httpx.get(f"{server.url}/health").json()["active_memory_mb"]
    assert after <= base + 0.5, (base, during, after)
    assert client.models.retrieve(model).loaded is False
