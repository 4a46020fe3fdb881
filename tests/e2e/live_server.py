"""The inspector app in a child process for tests, with the cheap argon2 profile by default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inspector.live_server import serving

__all__ = ["live_server"]


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

    The accounts were made with the cheap argon2 profile so 50 logins do not dominate a run
    (tests of hashing under load ask for the real one). `login_slots` and `login_queue` size the
    sign-in gate (default: the app's own).
    """
    options: dict[str, object] = {"cheap_password_hashing": cheap_password_hashing}
    if login_slots is not None:
        options["login_slots"] = login_slots
    if login_queue is not None:
        options["login_queue"] = login_queue
    with serving(home, startup_seconds, **options) as server:
        yield server.base
