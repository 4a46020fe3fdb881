"""One audit for every actor: the CLI, the DAG tasks and the inspector app write to the same log.

The log is the inspector app's `audit_events` table (inspector/db.py): insert-only, each row
chained to the one before by a SHA-256 hash (`cargo-risk audit verify`). The pipeline writes to it
through this module so that list exports, watch-list loads, model promotions and rollbacks and
retention removals sit beside the app's sign-ins and recorded outcomes, in one order.

Who: the OS user for a command typed at a terminal; "system" for an Airflow task (Airflow sets
`AIRFLOW_CTX_DAG_ID` in a task's environment), so an operator can tell scheduled work from hands.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipelines.settings import Settings

SYSTEM = "system"
"""The actor named for work started by the scheduler."""
ROLE_SYSTEM = "system"
ROLE_OPERATOR = "operator"
"""The role column for someone at the command line (app accounts carry their app role)."""

# Actions written by the pipeline; the app writes its own (login, outcome, waiver, ...).
LIST_EXPORT = "lists_export"
WATCHLIST_LOAD = "watchlist_load"
MODEL_PREFIX = "model_"
"""A model decision is logged as model_<action>: model_promote, model_refuse, model_rollback."""
RETENTION_REMOVE = "retention_remove"
PSEUDONYM_ROTATE = "pseudonym_rotate"


def current_actor(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(who, role): "system" inside an Airflow task, else the OS user at the terminal."""
    env = os.environ if environ is None else environ
    if env.get("AIRFLOW_CTX_DAG_ID"):
        return SYSTEM, ROLE_SYSTEM
    try:
        return getpass.getuser(), ROLE_OPERATOR
    except (KeyError, OSError):  # no passwd entry (some containers): say so rather than guess
        return "unknown-user", ROLE_OPERATOR


def database_url(settings: Settings) -> str:
    """The inspector app's database: the one audit log of the installation."""
    from inspector.config import InspectorConfig

    return InspectorConfig.from_settings(settings).database_url


@cache
def _engine(url: str) -> Engine:
    # One engine per database per process, migrated once: a retention run writes many rows.
    from inspector.db import make_engine
    from inspector.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine


@contextmanager
def audit_session(settings: Settings) -> Iterator[Session]:
    """A session on the audit database, committed on success (all rows or none)."""
    from inspector.db import session_factory, transaction

    with transaction(session_factory(_engine(database_url(settings)))) as session:
        yield session


def record_action(
    settings: Settings,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    *,
    actor: tuple[str, str] | None = None,
    session: Session | None = None,
) -> None:
    """Append one row: `actor` (who, role) defaults to `current_actor()`.

    With `session` the row joins that transaction (several removals recorded together).
    """
    from inspector.db import AuditEvent

    who, role = actor or current_actor()
    row = AuditEvent(
        username=who[:64],
        role=role[:16],
        action=action[:32],
        target=target[:256],
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str)[:2000],
    )
    if session is not None:
        session.add(row)
        return
    with audit_session(settings) as own:
        own.add(row)


@dataclass(frozen=True)
class AuditRow:
    """One row of the log as shown by `cargo-risk audit show`."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: str


def show(
    settings: Settings,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    actions: Sequence[str] = (),
    limit: int = 500,
) -> list[AuditRow]:
    """Rows oldest first, filtered by time, actor and action (an action ending in `*` is a
    prefix: `model_*`)."""
    from inspector.db import AuditEvent

    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if actor:
        query = query.where(AuditEvent.username == actor)
    exact = [a for a in actions if not a.endswith("*")]
    prefixes = [a[:-1] for a in actions if a.endswith("*")]
    if actions:
        from sqlalchemy import or_

        query = query.where(
            or_(
                AuditEvent.action.in_(exact),
                *(AuditEvent.action.startswith(p, autoescape=True) for p in prefixes),
            )
        )
    with audit_session(settings) as session:
        rows = session.scalars(query).all()
        found = [
            AuditRow(r.id, r.at, r.username, r.role, r.action, r.target, r.detail) for r in rows
        ]
    return found[::-1]
