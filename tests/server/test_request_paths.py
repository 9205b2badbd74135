"""The request-path figure's core reads the app's own routes: every declared function exists and is the one the
route's handler really uses, and the model method is the one that function really calls."""

from __future__ import annotations

import inspect
import re

import pytest

from mlx_audio_lab.inspect.server_paths import other_routes, request_path_figure, request_paths, resolve
from mlx_audio_lab.server.app import create_app
from mlx_audio_lab.server.config import ServerConfig


@pytest.fixture(scope="module")
def app():
    return create_app(ServerConfig())


def _paths(app):
    models = [e.public() for e in app.state.manager.entries.values()]
    return request_paths(app.openapi(), models), models


def test_every_model_route_of_the_app_is_listed_with_its_family_models(app):
    paths, models = _paths(app)
    got = {(p.method, p.route): p for p in paths}
    assert set(got) == {("POST", "/v1/audio/transcriptions"), ("POST", "/v1/audio/translations"),
                        ("POST", "/v1/audio/speech")}
    stt, tts = got["POST", "/v1/audio/transcriptions"], got["POST", "/v1/audio/speech"]
    assert (stt.family, stt.runs, stt.calls, stt.writes) == ("stt", "transcription.run_transcription",
                                                             "model.transcribe()", "transcription.respond")
    assert (tts.family, tts.runs, tts.calls) == ("tts", "speech.speak", "model.generate()")
    assert "whisper-tiny.en" in stt.models and "kokoro-82m" in tts.models
    assert set(stt.models) == {m["id"] for m in models if m["family"] == "stt"}
    assert "srt" in stt.formats and "wav" in tts.formats
    others = other_routes(app.openapi())
    assert "GET /health" in others and "POST /v1/parity" in others and not any("audio/speech" in o for o in others)


def _routes(routes):
    """Every route, those of included routers too (newer FastAPI keeps an included router as one entry)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        yield from _routes(inner.routes) if inner is not None else [r]


def test_declarations_match_the_code_they_name(app):
    """The handler's module calls the declared runner and writer, and the runner calls the declared method."""
    schema = app.openapi()
    endpoints = {r.path: r.endpoint for r in _routes(app.routes) if hasattr(r, "endpoint")}
    for route, ops in schema["paths"].items():
        for op in ops.values():
            path = op.get("x-request-path")
            if not path:
                continue
            module = inspect.getsource(inspect.getmodule(endpoints[route]))
            for key in ("runs", "writes"):
                assert resolve(path[key]).__module__ == inspect.getmodule(endpoints[route]).__name__
                name = path[key].split(":")[1]
                assert len(re.findall(rf"\b{name}\b", module)) >= 2, f"{route}: {name} is defined but never used"
            assert f"model.{path['calls']}(" in inspect.getsource(resolve(path["runs"]))


def test_a_stale_declaration_fails_instead_of_being_drawn():
    schema = {"paths": {"/x": {"post": {"x-request-path": {
        "family": "stt", "runs": "mlx_audio_lab.server.transcription:gone", "calls": "transcribe",
        "writes": "mlx_audio_lab.server.transcription:respond", "formats": []}}}}}
    with pytest.raises(AttributeError):
        request_paths(schema, [])


def test_figure_draws_four_boxes_per_route_and_names_the_others(app):
    paths, _ = _paths(app)
    fig = request_path_figure(paths, other_routes(app.openapi()), title="t")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert sum(type(p).__name__ == "FancyBboxPatch" for p in ax.patches) == 4 * len(paths)
    assert "POST /v1/audio/speech" in texts and any(t.startswith("other routes of the app") for t in texts)
    assert ax.get_title() == "t"
