"""Start and stop `mlx-audio-lab serve` in a subprocess on 127.0.0.1 (a free port) for the server tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlx_audio_lab.server.background import BackgroundServer, start

ROOT = Path(__file__).resolve().parents[2]
LiveServer = BackgroundServer


def start_server(folder: Path, *flags: str, timeout_s: float = 120.0) -> BackgroundServer:
    """The server on a free loopback port, or a test failure with its log."""
    try:
        return start(*flags, log_dir=folder, timeout_s=timeout_s)
    except RuntimeError as err:
        pytest.fail(str(err))


def stop_server(server: BackgroundServer) -> None:
    server.stop()
