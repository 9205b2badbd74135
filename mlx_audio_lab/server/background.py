"""`mlx-audio-lab serve` in a background process on a free loopback port (notebooks, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class BackgroundServer:
    """A running server process: its URL, its log file, and `stop()`."""

    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (uvicorn shuts down cleanly), SIGKILL after `timeout_s`."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(*flags: str, host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None,
          timeout_s: float = 120.0) -> BackgroundServer:
    """Start `python -m mlx_audio_lab serve --host HOST --port PORT *flags` and wait until /health answers."""
    port = port or free_port(host)
    log = Path(log_dir or tempfile.mkdtemp(prefix="mlx-audio-lab-server-")) / f"server-{port}.log"
    root = Path(__file__).resolve().parents[2]  # the checkout, so a worktree's package wins as in this process
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "mlx_audio_lab", "serve", "--host", host, "--port", str(port), *flags]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = BackgroundServer(f"http://{host}:{port}", port, proc, log)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"{server.url}/health", timeout=2).read()
            return server
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"the server did not start within {timeout_s:g} s; log:\n{server.tail()}") from None
            time.sleep(0.3)
