"""Account administration from the command line: open the database, add, list, change users."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector import audit
from inspector.auth import AccountError, add_user, set_password
from inspector.config import InspectorConfig
from inspector.db import User, make_engine, session_factory, transaction
from inspector.migrate import upgrade
from pipelines.settings import Settings

DEMO_USER = "demo.inspector"


@contextmanager
def admin_session(settings: Settings, config: InspectorConfig | None = None) -> Iterator[Session]:
    """A transaction on the app's (migrated) database, committed on success."""
    config = config or InspectorConfig.from_settings(settings)
    engine = make_engine(config.database_url)
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


@dataclass(frozen=True)
class AccountView:
    """What `users list` shows of an account (never the hash)."""

    username: str
    role: str
    ports: str
    active: bool


class _Actor(TypedDict):
    username: str
    role: str


def _operator() -> _Actor:
    """Who changes accounts outside the app (`cargo-risk users`, the demo): the OS user at the
    terminal, or "system" in an Airflow task, named as the pipeline's own audit rows name them."""
    from pipelines.audit_trail import current_actor

    who, role = current_actor()
    return _Actor(username=who, role=role)


def create_user(
    settings: Settings,
    username: str,
    password: str,
    role: str,
    ports: list[str],
    *,
    config: InspectorConfig | None = None,
) -> AccountView:
    """Add an account and audit it; AccountError says what is wrong."""
    config = config or InspectorConfig.from_settings(settings)
    with admin_session(settings, config) as session:
        user = add_user(session, username, password, role, ports, hasher=config.hasher())
        audit.record(session, None, "user_added", username, f"role {role}", **_operator())
        return AccountView(user.username, user.role, user.ports, user.active)


def change_password(
    settings: Settings, username: str, password: str, *, config: InspectorConfig | None = None
) -> None:
    """Replace a password (ends that user's sessions) and audit it."""
    config = config or InspectorConfig.from_settings(settings)
    with admin_session(settings, config) as session:
        set_password(session, username, password, config.hasher())
        audit.record(session, None, "password_changed", username, **_operator())


def set_active(settings: Settings, username: str, active: bool) -> None:
    """Enable or disable an account (disabling ends its sessions) and audit it."""
    with admin_session(settings) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise AccountError(f"no user {username!r}")
        user.active = active
        user.session_version += 1
        action = "user_enabled" if active else "user_disabled"
        audit.record(session, None, action, username, **_operator())


def list_users(settings: Settings) -> list[AccountView]:
    """Every account, by name."""
    with admin_session(settings) as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        return [AccountView(u.username, u.role, u.ports, u.active) for u in users]


def demo_login(settings: Settings, ports: list[str]) -> tuple[str, str]:
    """A demo inspector for `ports` with a fresh random password: (name, password)."""
    password = secrets.token_urlsafe(12)
    with admin_session(settings) as session:
        user = session.scalar(select(User).where(User.username == DEMO_USER))
        if user is None:
            add_user(session, DEMO_USER, password, "inspector", ports)
            audit.record(
                session, None, "user_added", DEMO_USER, "role inspector (demo)", **_operator()
            )
        else:
            user.ports = ",".join(ports)
            set_password(session, DEMO_USER, password)
            audit.record(session, None, "password_changed", DEMO_USER, "demo", **_operator())
    return DEMO_USER, password
