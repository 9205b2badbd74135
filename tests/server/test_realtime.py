"""Realtime transcription over a websocket: utterances cut by the energy segmenter (exact bounds on a
synthetic stream), partial and final transcripts, and a final equal to transcribing the utterance alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlx_audio_lab.server.realtime import EnergyDetector, Segmenter

RATE = 16000


def _tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_energy_segmenter_cuts_utterances_at_the_silences():
    silence = np.zeros(RATE, np.float32)
    stream = np.concatenate([silence, _tone(0.99), silence, _tone(0.51), silence, _tone(0.09), silence])
    seg = Segmenter(EnergyDetector(RATE), RATE, silence_s=0.5, min_speech_s=0.2, pad_s=0.0)
    events = []
    for i in range(0, len(stream), 1600):  # 100 ms chunks
        events += seg.feed(stream[i:i + 1600])
    ends = [(s / RATE, e / RATE) for kind, s, e in events if kind == "end"]
    frame = 0.03  # the detector's resolution
    assert len(ends) == 2  # the 90 ms click is below min_speech_s
    assert ends[0] == (pytest.approx(0.99, abs=frame), pytest.approx(1.98, abs=frame))
    assert ends[1] == (pytest.approx(2.97, abs=frame), pytest.approx(3.48, abs=frame))
    assert seg.close() == []  # nothing open at the end


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def test_realtime_partials_and_final_from_a_live_socket(server, clip):
    from websockets.sync.client import connect

    from mlx_audio_lab.fixtures.speech import speech

    voice = speech("fox")
    stream = np.concatenate([np.zeros(RATE // 2, np.float32), voice, np.zeros(RATE, np.float32)])
    url = server.url.replace("http", "ws") + "/v1/audio/transcriptions/realtime"
    messages = []
    # no client keepalive pings: on a loaded CI machine a transcription may outlast their timeout
    with connect(f"{url}?model=whisper-tiny.en&sample_rate={RATE}&partial_interval=1.0", ping_interval=None) as ws:
        assert json.loads(ws.recv(timeout=120))["type"] == "ready"
        for i in range(0, len(stream), RATE // 10):
            ws.send(_pcm(stream[i:i + RATE // 10]))
        ws.send(json.dumps({"type": "close"}))
        while True:
            msg = json.loads(ws.recv(timeout=600))
            messages.append(msg)
            if msg["type"] == "closed":
                break
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "speech_started" and kinds.count("final") == 1 and "error" not in kinds
    final = next(m for m in messages if m["type"] == "final")
    assert "lazy dog" in final["text"]
    # the utterance is where the voice is (0.5 s of silence first), within the detector's padding
    active = np.flatnonzero(np.abs(voice) > 0.01)
    assert final["start"] == pytest.approx(0.5 + active[0] / RATE, abs=0.3)
    assert final["end"] == pytest.approx(0.5 + active[-1] / RATE, abs=0.6)
    for m in messages:
        if m["type"] == "partial":
            assert m["start"] == final["start"]


def test_silero_vad_port_plugs_into_the_segmenter():
    """With the Silero VAD port installed (bundled 'silero-vad'), its streaming detector cuts the same stream."""
    from mlx_audio_lab.hub import bundled_names

    if "silero-vad" not in bundled_names():
        pytest.skip("the Silero VAD port (bundled 'silero-vad') is not in this checkout yet; energy cuts until then")
    import mlx_audio_lab
    from mlx_audio_lab.fixtures.speech import speech
    from mlx_audio_lab.server.realtime import StreamDetector

    voice = speech("fox")
    stream = np.concatenate([np.zeros(RATE, np.float32), voice, np.zeros(RATE, np.float32)])
    seg = Segmenter(StreamDetector(mlx_audio_lab.load("silero-vad"), RATE), RATE)
    events = []
    for i in range(0, len(stream), 1600):
        events += seg.feed(stream[i:i + 1600])
    ends = [(s / RATE, e / RATE) for kind, s, e in events if kind == "end"]
    active = np.flatnonzero(np.abs(voice) > 0.01)
    assert len(ends) >= 1
    assert ends[0][0] == pytest.approx(1.0 + active[0] / RATE, abs=0.3)
    assert ends[-1][1] == pytest.approx(1.0 + active[-1] / RATE, abs=0.7)
