"""The FastAPI application: routes, limits (body size, per-model queue), CORS, /health, /metrics and the page."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse

from .. import __version__
from .config import ServerConfig
from .errors import (
    APIError,
    api_error_handler,
    error_body,
    http_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from .manager import ModelManager, active_memory_mb
from .metrics import Metrics
from .realtime import detector_factory
from .realtime import router as realtime_router
from .speech import read_json
from .speech import router as speech_router
from .transcription import router as transcription_router

PAGE = Path(__file__).with_name("page.html")


class Limits:
    """ASGI middleware: refuse bodies over `limit` bytes with 413 (declared or counted), and time every request."""

    def __init__(self, app: Any, limit: int, metrics: Metrics):
        self.app, self.limit, self.metrics = app, limit, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status = time.perf_counter(), [500]
        started = [False]

        async def send_timed(message):
            if message["type"] == "http.response.start":
                status[0], started[0] = message["status"], True
            await send(message)

        try:
            declared = dict(scope["headers"]).get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
                bad = not declared.isdigit()
                msg = ("Content-Length must be a non-negative integer" if bad else
                       f"request body of {int(declared)} bytes is over the limit of {self.limit} bytes "
                       f"({self.limit / 2**20:g} MB; the server's --max-upload-mb)")
                return await self._reply(scope, send_timed, 400 if bad else 413, msg)
            seen = [0]

            async def counted():
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > self.limit:  # a body longer than declared (or chunked): stop reading it
                        raise APIError(413, f"request body is over the limit of {self.limit} bytes "
                                            f"({self.limit / 2**20:g} MB; the server's --max-upload-mb)",
                                       None, "request_too_large", headers={"Connection": "close"})
                return message

            await self.app(scope, counted, send_timed)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(getattr(route, "path", "other"), scope["method"], status[0],
                                         time.perf_counter() - t0)

    @staticmethod
    async def _reply(scope, send, status: int, message: str) -> None:
        code = "request_too_large" if status == 413 else "invalid_header"
        resp = JSONResponse(error_body(status, message, None, code), status_code=status,
                            headers={"Connection": "close"})
        await resp(scope, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.disconnect"}


def create_app(config: ServerConfig | None = None, manager: ModelManager | None = None) -> FastAPI:
    """The server as an ASGI app (run it with uvicorn, or `mlx-audio-lab serve`)."""
    config = config or ServerConfig()
    manager = manager or ModelManager(config)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        for model_id in config.models:
            await manager.get(model_id)
        yield
        manager.shutdown()

    app = FastAPI(title="mlx-audio-lab", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.config, app.state.manager, app.state.metrics = config, manager, metrics
    app.state.detector = detector_factory(config.vad, manager)
    app.state.parity = {}
    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["X-Sample-Rate", "X-Voice", "X-Unsupported-Options"])
    app.add_middleware(Limits, limit=config.max_upload_bytes, metrics=metrics)
    app.include_router(transcription_router)
    app.include_router(speech_router)
    app.include_router(realtime_router)

    @app.get("/health")
    async def health():
        loaded = [i for i, e in manager.entries.items() if e.model is not None]
        memory = round(active_memory_mb(), 1)
        return {"status": "ok", "version": __version__, "loaded": loaded, "active_memory_mb": memory}

    @app.get("/metrics")
    async def prometheus():
        return PlainTextResponse(metrics.render(manager.entries), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [e.public() for e in manager.entries.values()]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str):
        return manager.entry(model_id).public()

    @app.post("/v1/models")
    async def load_model(request: Request):
        body = await read_json(request)
        entry, _ = await manager.get(body.get("model"))
        return entry.public()

    @app.delete("/v1/models/{model_id:path}")
    async def unload_path(model_id: str):
        return await manager.unload(model_id)

    @app.delete("/v1/models")
    async def unload_query(model: str | None = None, model_name: str | None = None):
        return await manager.unload(model or model_name or "")

    @app.post("/v1/parity")
    async def parity(request: Request):
        """Parity of a model's port on its fixture (`mlx-audio-lab parity TYPE`), run once and remembered."""
        body = await read_json(request)
        entry = manager.entry(body.get("model"))
        if entry.model_type not in app.state.parity:
            from ..parity import run

            try:
                report = await manager.run(run, entry.model_type, weights="fixture")
            except Exception as err:  # no torch / reference on this machine, or the reference failed
                raise APIError(503, f"parity of {entry.model_type} could not run ({type(err).__name__}: {err})",
                               "model", "parity_unavailable") from err
            app.state.parity[entry.model_type] = {"model": entry.id, "model_type": entry.model_type, "ok": report.ok,
                                                  "weights": "fixture", "checks": report.checks(),
                                                  "table": report.table(), "report": json.loads(report.to_json())}
        return app.state.parity[entry.model_type]

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    return app
