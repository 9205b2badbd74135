"""OpenAI-shaped JSON errors: `{"error": {"message", "type", "param", "code"}}` with a clear 4xx/5xx status."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class APIError(Exception):
    """An error the client should see: HTTP status, a message saying what and what to do, and the parameter."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    @property
    def type(self) -> str:
        if self.status == 429:
            return "rate_limit_error"
        if self.status >= 500:
            return "server_error"
        return "invalid_request_error"


def error_body(status: int, message: str, param: str | None = None, code: str | None = None,
               type_: str | None = None) -> dict[str, Any]:
    kind = type_ or APIError(status, message).type
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(error_body(err.status, err.message, err.param, err.code, err.type), status_code=err.status,
                        headers=err.headers)


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param, code)


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own HTTP errors (404 route, 405 method) in the same JSON shape."""
    status = int(getattr(exc, "status_code", 500))
    detail = str(getattr(exc, "detail", "") or "error")
    return error_response(APIError(status, detail, code="not_found" if status == 404 else None,
                                   headers=dict(getattr(exc, "headers", None) or {})))


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI body validation (JSON routes) as a 400 naming the first bad field."""
    errors = getattr(exc, "errors", lambda: [])()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid request"))
    return error_response(APIError(400, message, where, "invalid_value"))


async def unexpected_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Anything else: a 500 with the exception's type and message (never a traceback in the body)."""
    return error_response(APIError(500, f"internal error: {type(exc).__name__}: {exc}", code="internal_error"))
