"""Where the app keeps its database and session secret, derived from the project settings.

Until these become fields of `pipelines.settings.Settings`, they default to paths under the
home folder: `<home>/inspector/inspector.db` and `<home>/inspector/session.secret`.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher

from inspector.auth import password_hasher
from inspector.login import default_slots
from inspector.throttle import ThrottlePolicy
from pipelines.settings import Settings

SESSION_HOURS = 8
# Sign-ins that may wait for a checking slot; more are refused at once (503). With about 0.1-0.3 s
# per check, the last in the queue waits a few seconds at most.
LOGIN_QUEUE = 8


def _write_owner_only(text: str, target: Path) -> None:
    """Write a file atomically that is owner-readable from its first byte (mode 0600)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600; pipelines.io.atomic_path would widen it to the umask.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


@dataclass(frozen=True)
class InspectorConfig:
    """The app's own settings: database URL, session secret file and cookie policy."""

    database_url: str
    secret_file: Path
    cookie_secure: bool = True
    session_hours: int = SESSION_HOURS
    cheap_password_hashing: bool = False
    """Tests only: argon2's cheapest parameters, so hundreds of logins take no time."""
    login_slots: int = field(default_factory=default_slots)
    """Passwords checked at once (each argon2 check holds 64 MiB and a core)."""
    login_queue: int = LOGIN_QUEUE
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        database_url: str | None = None,
        cookie_secure: bool = True,
        cheap_password_hashing: bool = False,
        login_slots: int | None = None,
        login_queue: int = LOGIN_QUEUE,
    ) -> InspectorConfig:
        """Defaults under `<home>/inspector/`; `database_url` may name PostgreSQL instead."""
        folder = settings.home / "inspector"
        return cls(
            database_url=database_url or f"sqlite:///{folder / 'inspector.db'}",
            secret_file=folder / "session.secret",
            cookie_secure=cookie_secure,
            cheap_password_hashing=cheap_password_hashing,
            login_slots=login_slots or default_slots(),
            login_queue=login_queue,
        )

    def hasher(self) -> PasswordHasher:
        """The argon2 hasher for new and verified passwords."""
        return password_hasher(self.cheap_password_hashing)

    def session_secret(self) -> str:
        """The secret signing session cookies, created once (owner-readable only)."""
        if not self.secret_file.is_file():
            _write_owner_only(secrets.token_urlsafe(48), self.secret_file)
        secret = self.secret_file.read_text(encoding="utf-8").strip()
        if len(secret) < 32:
            raise ValueError(f"{self.secret_file}: session secret must be at least 32 characters")
        return secret
