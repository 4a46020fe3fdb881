"""The sign-in throttle: failed attempts counted per account, per address and per pair.

Grain of `login_attempts`: one row per sign-in attempt that was let through to the password check;
`state` is `pending` while the password is being checked, then `failed` or `ok`. A pending
attempt counts as a failure, so guesses sent at the same moment are counted before any of them is
checked. The decision to let an attempt through and its pending row are made under one lock
(SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-level advisory lock), so 40 simultaneous
guesses are decided one after another and at most the limit of them reach the password check.

Rules, within the window (15 minutes):
- an address with `address_failures` failures (any names) is refused for every name;
- a name with `account_failures` failures (any addresses) is throttled: it is refused to every
  address that has failed on it `failures_while_throttled` times, but an address that has not
  (the owner, elsewhere) is still checked, so nobody can lock an owner out by guessing wrongly.
  One address guessing alone therefore gets `account_failures` guesses a window.
A successful sign-in clears the failures of that name from that address only, never the name's
or the address's totals: holding an account of one's own resets nothing.
Refused attempts are not counted (a refusal costs no write) and stop nothing for anybody else.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from inspector.db import LoginAttempt, utc_now

PENDING, FAILED, OK = "pending", "failed", "ok"
# Any constant identifies the lock: only sign-in decisions take it.
_ADVISORY_LOCK_KEY = zlib.crc32(b"cargo-risk login throttle")


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures an account, an address and a pair may have within the window."""

    window: timedelta = timedelta(minutes=15)
    account_failures: int = 5
    address_failures: int = 20
    failures_while_throttled: int = 2
    """While a name is throttled, an address is still checked below this many failures on it:
    one typo of the owner is forgiven, and an attacker's addresses get at most this many."""

    @property
    def minutes(self) -> int:
        """The window in whole minutes, for messages."""
        return int(self.window.total_seconds() // 60)


@dataclass(frozen=True)
class Decision:
    """Whether an attempt may be checked; `attempt_id` names its pending row when it may."""

    refused: str | None = None
    """`address` (this address failed too often) or `account` (this name), None when allowed."""
    attempt_id: int | None = None


def _bad(since: datetime) -> ColumnElement[bool]:
    return and_(LoginAttempt.state.in_((PENDING, FAILED)), LoginAttempt.at > since)


def _count(session: Session, *conditions: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).where(*conditions)) or 0)


def refusal(
    session: Session, policy: ThrottlePolicy, username: str, address: str, now: datetime
) -> str | None:
    """Why an attempt with this name from this address is refused now, or None."""
    since = now - policy.window
    if _count(session, _bad(since), LoginAttempt.address == address) >= policy.address_failures:
        return "address"
    last_ok = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username,
            LoginAttempt.address == address,
            LoginAttempt.state == OK,
        )
    )
    pair_since = max(since, last_ok) if last_ok is not None else since
    pair = _count(
        session,
        _bad(pair_since),
        LoginAttempt.username == username,
        LoginAttempt.address == address,
    )
    if pair >= policy.failures_while_throttled:
        account = _count(session, _bad(since), LoginAttempt.username == username)
        if account >= policy.account_failures:
            return "account"
    return None


def _lock_decisions(session: Session) -> None:
    """Hold the lock that orders sign-in decisions until the transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # The first statement takes SQLite's write lock (waiting out the busy timeout), so the
        # counts read next cannot change before this transaction commits.
        session.execute(text("BEGIN IMMEDIATE"))
    elif dialect == "postgresql":  # tests/test_inspector_postgres.py
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    else:
        raise NotImplementedError(f"no sign-in lock for the {dialect} database")


def begin_attempt(
    factory: sessionmaker[Session], policy: ThrottlePolicy, username: str, address: str
) -> Decision:
    """Refuse the attempt, or store it as pending (a failure until checked) and allow it."""
    # Refusing needs no lock: the counts only fall as the window moves on. This keeps a flood of
    # refused attempts to reads.
    with factory() as session:
        refused = refusal(session, policy, username, address, utc_now())
    if refused:
        return Decision(refused=refused)
    with factory() as session, session.begin():
        _lock_decisions(session)
        now = utc_now()
        refused = refusal(session, policy, username, address, now)
        if refused:
            return Decision(refused=refused)
        # Rows older than two windows decide nothing any more.
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - 2 * policy.window))
        attempt = LoginAttempt(at=now, username=username, address=address, state=PENDING)
        session.add(attempt)
        session.flush()
        return Decision(attempt_id=attempt.id)


def finish_attempt(session: Session, attempt_id: int, succeeded: bool) -> None:
    """Mark a pending attempt `ok` or `failed` (in the caller's transaction)."""
    session.execute(
        update(LoginAttempt)
        .where(LoginAttempt.id == attempt_id)
        .values(state=OK if succeeded else FAILED)
    )
