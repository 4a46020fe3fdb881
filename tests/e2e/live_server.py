"""Run the inspector app with uvicorn in a subprocess on a free 127.0.0.1 port, and stop it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# The server runs like `cargo-risk serve` on localhost: plain http, so no Secure cookie; the
# accounts were made with the cheap argon2 profile so 50 logins do not dominate the run (tests of
# hashing under load ask for the real one).
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


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(
    home: Path,
    startup_seconds: float = 60,
    *,
    cheap_password_hashing: bool = True,
    login_slots: int | None = None,
    login_queue: int | None = None,
) -> Iterator[str]:
    """Yield the base URL of a server over `home`; terminate it afterwards.

    `login_slots` and `login_queue` size the sign-in gate (default: the app's own).
    """
    options: dict[str, object] = {"cheap_password_hashing": cheap_password_hashing}
    if login_slots is not None:
        options["login_slots"] = login_slots
    if login_queue is not None:
        options["login_queue"] = login_queue
    port = free_port()
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(home), str(port), json.dumps(options)],
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()
