"""The append-only audit trail: who viewed or changed what, and when.

Grain: one row per view or change. Rows are only ever inserted (database triggers refuse updates
and deletes). The trail lives in the database, never in the process logs, which carry no names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector import audit_chain
from inspector.db import AuditEvent, User

SYSTEM = "system"


def record(
    session: Session,
    user: User | None,
    action: str,
    target: str = "",
    detail: str = "",
    *,
    username: str | None = None,
    role: str = "",
) -> AuditEvent:
    """Append one event; `username` (and `role`) name the actor when there is no account (a bad
    login, an operator at the terminal)."""
    event = AuditEvent(
        username=user.username if user else (username or SYSTEM),
        role=user.role if user else role,
        action=action,
        target=target[:256],
        detail=detail[:2000],
    )
    session.add(event)
    return event


def recent(
    session: Session,
    *,
    limit: int = 200,
    username: str | None = None,
    action: str | None = None,
) -> Sequence[AuditEvent]:
    """The newest events first, optionally of one user or one action."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if username:
        query = query.where(AuditEvent.username == username)
    if action:
        query = query.where(AuditEvent.action == action)
    return session.scalars(query).all()


@dataclass(frozen=True)
class ChainCheck:
    """The result of walking the hash chain: rows checked and the first broken row, if any."""

    rows: int
    broken_id: int | None
    newest_hash: str

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def verify(session: Session) -> ChainCheck:
    """Recompute the chain oldest first; report the first row whose stored hash differs."""
    previous = audit_chain.GENESIS
    rows = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        content = audit_chain.canonical(
            event.at,
            username=event.username,
            role=event.role,
            action=event.action,
            target=event.target,
            detail=event.detail,
        )
        expected = audit_chain.chain_hash(previous, content)
        if event.chain_hash != expected:
            return ChainCheck(rows=rows, broken_id=event.id, newest_hash=previous)
        previous = expected
        rows += 1
    return ChainCheck(rows=rows, broken_id=None, newest_hash=previous)
