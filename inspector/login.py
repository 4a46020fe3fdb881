"""Signing in under load: a bounded gate in front of password hashing, then the throttled check.

Each argon2 check takes 64 MiB and a core for a noticeable time. Unbounded, 60 clients posting
random logins filled the shared thread pool with hashes (2.4 GB, signed-in pages 50x slower).
The gate runs checks in their own worker threads, at most `slots` at once (one core is left to
everything else), lets `queue` more wait, and refuses the rest at once with 503, before any
database work or hashing. Signed-in pages never wait for a sign-in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from inspector import audit, throttle
from inspector.auth import authenticate
from inspector.db import AuditEvent, User, utc_now

T = TypeVar("T")


def default_slots() -> int:
    """Sign-ins checked at once: the cores less one, so a flood leaves a core to signed-in users."""
    # The cores this process may run on (a container or taskset may allow fewer than the host's).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


class GateFullError(Exception):
    """Every checking slot is busy and the queue is full: answer 503 and let the client retry."""


class HashingGate:
    """At most `slots` password checks at once and `queue` waiting; beyond that, refuse at once.

    Used from the event loop only, so the count of admitted requests needs no lock.
    """

    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError(f"slots must be >= 1 and queue >= 0, got {slots} and {queue}")
        self.slots = slots
        self.capacity = slots + queue
        self.admitted = 0
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in a worker thread once a slot is free; GateFullError when nothing is."""
        if self.admitted >= self.capacity:
            raise GateFullError
        if self._limiter is None:
            # Made on first use, inside the event loop that serves the app.
            self._limiter = anyio.CapacityLimiter(self.slots)
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=self._limiter)
        finally:
            self.admitted -= 1


@dataclass(frozen=True)
class SignIn:
    """The result of one attempt: the user, or why not (`refused`: `address` or `account`)."""

    user: User | None
    refused: str | None = None


_REFUSALS = {
    "address": "too many failed sign-ins from this address",
    "account": "too many failed sign-ins for this name from this address",
}


def _audit_refusal_once(
    session: Session, policy: throttle.ThrottlePolicy, username: str, address: str, reason: str
) -> None:
    # One audit row per refused address (or name and address) per window: a flood of refused
    # attempts must not grow the append-only log without bound.
    detail = f"from {address}: {_REFUSALS[reason]}"
    seen = select(AuditEvent.id).where(
        AuditEvent.action == "login_throttled",
        AuditEvent.detail == detail,
        AuditEvent.at > utc_now() - policy.window,
    )
    if reason == "account":
        seen = seen.where(AuditEvent.username == username)
    if session.scalar(seen.limit(1)) is None:
        audit.record(session, None, "login_throttled", detail=detail, username=username)


def sign_in(
    factory: sessionmaker[Session],
    hasher: PasswordHasher,
    policy: throttle.ThrottlePolicy,
    *,
    username: str,
    password: str,
    address: str,
) -> SignIn:
    """Throttle, check the password, record the attempt and audit it (blocking: run in a gate)."""
    decision = throttle.begin_attempt(factory, policy, username, address)
    if decision.refused is not None or decision.attempt_id is None:
        reason = decision.refused or "account"
        with factory() as session, session.begin():
            _audit_refusal_once(session, policy, username, address, reason)
        return SignIn(user=None, refused=reason)
    with factory() as session, session.begin():
        # No lock is held while hashing: the first write (rehash or finish) comes after it.
        user = authenticate(session, username, password, hasher)
        throttle.finish_attempt(session, decision.attempt_id, succeeded=user is not None)
        if user is None:
            audit.record(session, None, "login_failed", detail=f"from {address}", username=username)
        else:
            audit.record(session, user, "login", detail=f"from {address}")
    return SignIn(user=user)
