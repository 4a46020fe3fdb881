"""Run the inspector app with uvicorn in a child process on a free 127.0.0.1 port, and stop it.

For the browser tests, the load tests and the login-flood benchmark, which all need a real server
process they can load, measure and kill; `cargo-risk serve` is what a user runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.loopback import free_loopback_port

# The child runs like `cargo-risk serve` on localhost: plain http, so no Secure cookie.
_SERVER = """
import json
import sys
from pathlib import Path

import uvicorn

from inspector.app import create_app
from inspector.config import InspectorConfig
from pipelines.settings import load_settings

settings = load_settings(environ={}, home=Path(sys.argv[1]))
config = InspectorConfig.from_settings(settings, cookie_secure=False, **json.loads(sys.argv[3]))
uvicorn.run(
    create_app(settings, config),
    host="127.0.0.1",
    port=int(sys.argv[2]),
    access_log=False,
    log_level="warning",
)
"""


@dataclass(frozen=True)
class LiveServer:
    """A running server: where to reach it and its process id (for memory readings)."""

    base: str
    pid: int


@contextmanager
def serving(
    home: Path, startup_seconds: float = 60, **config_options: object
) -> Iterator[LiveServer]:
    """Yield a server over `home` once its /healthz answers; terminate it afterwards.

    `config_options` go to `InspectorConfig.from_settings` (JSON values only), e.g.
    `cheap_password_hashing=True` or `login_slots=2`. The server's output goes to
    `home/server.log`, quoted when it exits before answering.
    """
    port = free_loopback_port()
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(home), str(port), json.dumps(config_options)],
            stdout=log,
            stderr=log,
        )
        server = LiveServer(f"http://127.0.0.1:{port}", process.pid)
        try:
            _wait_until_healthy(server.base, process, log_path, startup_seconds)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _wait_until_healthy(
    base: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start in time")
        time.sleep(0.2)
