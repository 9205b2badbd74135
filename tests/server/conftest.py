"""A live server for the tests: `mlx-audio-lab serve` in a subprocess on 127.0.0.1 (a free port), stopped after."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest

MISSING = [p for p in ("fastapi", "uvicorn", "multipart", "openai", "websockets", "httpx") if find_spec(p) is None]
if MISSING:  # the server tests need the server and test extras; said in the report header, not hidden
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config) -> str | None:
    if MISSING:
        return (f"tests/server SKIPPED: {', '.join(MISSING)} not installed "
                "(pip install -e '.[server,test]'; .ci/setup does it)")
    return None


from live_server import start_server, stop_server  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server for the API tests: whisper-tiny.en and kokoro-82m load on first use; 5 MB body limit."""
    s = start_server(tmp_path_factory.mktemp("server"), "--max-upload-mb", "5", "--max-concurrency", "2",
                     "--max-queue", "8", "--cors", "http://127.0.0.1")
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def client(server):
    import openai

    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", timeout=600, max_retries=0)


@pytest.fixture(scope="session")
def clip(espeak) -> Path:
    """espeak-ng speaking the fox sentence (22.05 kHz WAV; the server resamples like the CLI)."""
    from mlx_audio_lab.fixtures.speech import speech_clip

    return speech_clip("fox")
