"""Start and stop `mlx-audio-lab serve` in a subprocess on 127.0.0.1 (a free port) for the server tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_server(folder: Path, *flags: str, timeout_s: float = 120.0) -> LiveServer:
    """Start `mlx-audio-lab serve` on a free loopback port and wait until /health answers."""
    port = free_port()
    log = folder / f"server-{port}.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "mlx_audio_lab", "serve", "--host", "127.0.0.1", "--port", str(port), *flags]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = LiveServer(f"http://127.0.0.1:{port}", port, proc, log)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"{server.url}/health", timeout=2).read()
            return server
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(server)
                pytest.fail(f"the server did not start; log:\n{server.tail()}")
            time.sleep(0.3)


def stop_server(server: LiveServer) -> None:
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=5)


