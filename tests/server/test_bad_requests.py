"""Malformed requests: each gets a clear 4xx with an OpenAI-shaped JSON error, and the server keeps serving."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import httpx
import pytest

WAV_HEADER_ONLY = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00" \
                  b"\x02\x00\x10\x00data\x00\x00\x00\x00"


def _t(files=None, **data):
    return ("POST", "/v1/audio/transcriptions", {"files": files, "data": data})


def _s(**body):
    return ("POST", "/v1/audio/speech", {"json": body})


CLIP = ("clip.wav", b"", "audio/wav")  # replaced by the real clip's bytes
OK = {"model": "whisper-tiny.en"}
CASES = {
    "missing file": (_t(None, **OK), 400, "missing 'file'"),
    "0-byte file": (_t({"file": ("empty.wav", b"", "audio/wav")}, **OK), 400, "0 bytes"),
    "text as audio": (_t({"file": ("notes.wav", b"hello, this is plain text\n" * 20, "audio/wav")}, **OK), 400,
                      "cannot use the uploaded audio"),
    "header-only wav": (_t({"file": ("h.wav", WAV_HEADER_ONLY, "audio/wav")}, **OK), 400, "empty"),
    "unknown response format": (_t({"file": CLIP}, response_format="docx", **OK), 400, "response_format"),
    "unknown model": (_t({"file": CLIP}, model="whisper-huge-v9"), 404, "unknown model"),
    "path traversal in model": (_t({"file": CLIP}, model="../../../../etc/passwd"), 404, "unknown model"),
    "absolute path as model": (_t({"file": CLIP}, model="/root/.cache"), 404, "unknown model"),
    "missing model": (_t({"file": CLIP}), 400, "missing 'model'"),
    "tts model for transcription": (_t({"file": CLIP}, model="kokoro-82m"), 400, "text-to-speech"),
    "granularities without verbose_json": (_t({"file": CLIP}, **OK, **{"timestamp_granularities[]": "word"}), 400,
                                           "verbose_json"),
    "unknown granularity": (_t({"file": CLIP}, response_format="verbose_json", **OK,
                               **{"timestamp_granularities[]": "syllable"}), 400, "granularity"),
    "temperature out of range": (_t({"file": CLIP}, temperature="5", **OK), 400, "temperature"),
    "temperature not a number": (_t({"file": CLIP}, temperature="hot", **OK), 400, "temperature"),
    "bad language code": (_t({"file": CLIP}, language="english!!; rm -rf", **OK), 400, "language"),
    "bad beam size": (_t({"file": CLIP}, beam_size="lots", **OK), 400, "beam_size"),
    "bad stream flag": (_t({"file": CLIP}, stream="maybe", **OK), 400, "stream"),
    "file as a text field": (_t(None, file="not a file", **OK), 400, "file part"),
    "json instead of multipart": (("POST", "/v1/audio/transcriptions", {"json": {"model": "whisper-tiny.en"}}), 400,
                                  "multipart"),
    "speech negative speed": (_s(model="kokoro-82m", input="hi", voice="jm_kumo", speed=-1), 400, "speed"),
    "speech speed as text": (_s(model="kokoro-82m", input="hi", voice="jm_kumo", speed="fast"), 400, "speed"),
    "speech empty input": (_s(model="kokoro-82m", input="   ", voice="jm_kumo"), 400, "input"),
    "speech input not text": (_s(model="kokoro-82m", input=["a", "b"], voice="jm_kumo"), 400, "input"),
    "speech input too long": (_s(model="kokoro-82m", input="la " * 2000, voice="jm_kumo"), 400, "limit"),
    "speech unknown format": (_s(model="kokoro-82m", input="hi", voice="jm_kumo", response_format="ogg"), 400,
                              "response_format"),
    "speech unknown voice": (_s(model="kokoro-82m", input="hi", voice="../../voices/x"), 400, "unknown voice"),
    "speech stt model": (_s(model="whisper-tiny.en", input="hi", voice="x"), 400, "speech-to-text"),
    "speech traversal model": (_s(model="..%2F..%2Fetc", input="hi", voice="x"), 404, "unknown model"),
    "speech invalid json": (("POST", "/v1/audio/speech", {"content": b"{model: kokoro", "headers":
                                                          {"content-type": "application/json"}}), 400, "JSON"),
    "speech json not an object": (("POST", "/v1/audio/speech", {"json": [1, 2]}), 400, "JSON object"),
    "load unknown model": (("POST", "/v1/models", {"json": {"model": "../etc"}}), 404, "unknown model"),
    "unload unknown model": (("DELETE", "/v1/models/nope", {}), 404, "unknown model"),
    "voices of an stt model": (("GET", "/v1/audio/voices?model=whisper-tiny.en", {}), 400, "speech-to-text"),
    "unknown route": (("GET", "/v1/engines", {}), 404, "Not Found"),
    "wrong method": (("GET", "/v1/audio/speech", {}), 405, "Method Not Allowed"),
    "translation by an English-only model": (("POST", "/v1/audio/translations", {"files": {"file": CLIP},
                                                                                  "data": OK}), 400, "English-only"),
}


@pytest.fixture(scope="module")
def clip_bytes(clip) -> bytes:
    return clip.read_bytes()


@pytest.mark.parametrize("name", list(CASES))
def test_bad_request_gets_a_clear_4xx(server, clip_bytes, name):
    (method, path, kw), status, needle = CASES[name]
    kw = dict(kw)
    if kw.get("files"):
        kw["files"] = {k: (v[0], clip_bytes, v[2]) if v is CLIP else v for k, v in kw["files"].items()}
    kw = {k: v for k, v in kw.items() if v is not None}
    r = httpx.request(method, server.url + path, timeout=600, **kw)
    assert r.status_code == status, (name, r.status_code, r.text[:300])
    err = r.json()["error"]
    assert needle.lower() in err["message"].lower(), (name, err)
    assert err["type"] in ("invalid_request_error",) and "Traceback" not in r.text
    assert httpx.get(server.url + "/health", timeout=30).json()["status"] == "ok"  # still serving


def _raw(server, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    """A request with exactly these headers (a declared length the body does not have)."""
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.putrequest("POST", "/v1/audio/transcriptions")
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body)
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read() or b"{}")
    conn.close()
    return out


def test_declared_2gb_body_is_refused_before_reading(server):
    status, body = _raw(server, {"Content-Type": "multipart/form-data; boundary=x",
                                 "Content-Length": str(2 * 1024**3)}, b"--x\r\n")
    assert status == 413 and "over the limit" in body["error"]["message"]
    assert httpx.get(server.url + "/health").status_code == 200


def test_body_over_the_limit_is_refused(server):
    big = b"\0" * (6 * 2**20)  # the test server takes 5 MB
    r = httpx.post(server.url + "/v1/audio/transcriptions", data={"model": "whisper-tiny.en"},
                   files={"file": ("big.wav", big, "audio/wav")}, timeout=60)
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    assert httpx.get(server.url + "/health").status_code == 200


def test_realtime_socket_rejects_unknown_model_and_bad_messages(server):
    from websockets.sync.client import connect

    ws_url = server.url.replace("http", "ws") + "/v1/audio/transcriptions/realtime"
    with connect(ws_url + "?model=../../etc/passwd") as ws:
        msg = json.loads(ws.recv(timeout=30))
        assert msg["type"] == "error" and "unknown model" in msg["message"]
    with connect(ws_url + "?model=fixture:wav2vec2&sample_rate=16000") as ws:
        assert json.loads(ws.recv(timeout=120))["type"] == "ready"
        ws.send(b"\x01\x02\x03")  # odd byte count: not 16-bit PCM
        assert "even byte count" in json.loads(ws.recv(timeout=30))["message"]
        ws.send("start please")
        assert json.loads(ws.recv(timeout=30))["type"] == "error"
        ws.send(json.dumps({"type": "close"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "closed"


def test_metrics_count_the_refusals(server):
    text = httpx.get(server.url + "/metrics").text
    assert 'mlx_audio_lab_requests_total{route="/v1/audio/transcriptions",method="POST",status="400"}' in text
    assert "mlx_audio_lab_request_seconds_bucket" in text


def test_cors_allows_only_the_configured_origin(server):
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = httpx.options(server.url + "/v1/audio/speech", headers={"Origin": "http://127.0.0.1", **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://127.0.0.1"
    other = httpx.options(server.url + "/v1/audio/speech", headers={"Origin": "http://evil.example", **pre})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    plain = httpx.get(server.url + "/v1/models", headers={"Origin": "http://evil.example"})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
