"""An OpenAI-compatible HTTP server over the ports, with a page to try them (`mlx-audio-lab serve`).

Needs the `server` extra (FastAPI, uvicorn, python-multipart). Importing this package stays light: FastAPI is
imported by `create_app` / `serve`, so `server.background` (start a server process) works without it.
"""

from __future__ import annotations

from typing import Any

from .config import ServerConfig

__all__ = ["ServerConfig", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)


def serve(config: ServerConfig, manager: Any = None) -> None:
    """Run the server in this process until interrupted (uvicorn, one worker)."""
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(config, manager), host=config.host, port=config.port, log_level="warning",
                access_log=False, ws_max_size=4 * 2**20,
                ws_ping_interval=20.0, ws_ping_timeout=300.0)  # lenient pings: a busy CPU may hold a reply back
