"""An OpenAI-compatible HTTP server over the ports, with a page to try them (`mlx-audio-lab serve`).

Needs the `server` extra (FastAPI, uvicorn, python-multipart); importing this package imports FastAPI.
"""

from __future__ import annotations

from .app import create_app
from .config import ServerConfig

__all__ = ["ServerConfig", "create_app", "serve"]


def serve(config: ServerConfig, manager=None) -> None:
    """Run the server in this process until interrupted (uvicorn, one worker)."""
    import uvicorn

    uvicorn.run(create_app(config, manager), host=config.host, port=config.port, log_level="warning", access_log=False,
                ws_max_size=4 * 2**20, ws_ping_interval=20.0, ws_ping_timeout=300.0)  # lenient: a busy CPU
