"""Run locks: one run of a date at a time, one ingest at a time.

A lock is an advisory `flock` on `reports/locks/<name>.lock`, held for as long as the run's
process holds the file open. The kernel drops it when that process ends in any way (kill -9
included), so a crash never leaves a stale lock to clear by hand. A second run asking for a lock
held elsewhere fails at once with a message naming the holder; it never waits.

Locks are re-entrant within one process: a night holding its date's lock calls stages that ask
for the same lock.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from pipelines import layout
from pipelines.settings import Settings

INGEST = "ingest"
"""Ingest is not per date: it loads every new landing file, whatever dates they hold."""
_held: set[Path] = set()


class RunLockedError(RuntimeError):
    """Another run holds the lock; its message is one line naming the holder and the lock file."""


def lock_path(settings: Settings, name: str) -> Path:
    """Where the lock called `name` lives (`date=YYYY-MM-DD` or `ingest`)."""
    return settings.zone("reports") / "locks" / f"{name}.lock"


def date_lock_name(day: date) -> str:
    """The lock of one filing date's run."""
    return layout.partition_name(day)


@contextmanager
def run_lock(settings: Settings, name: str) -> Iterator[bool]:
    """Hold the lock `name` for the block; yields whether this call took it (False: re-entered).

    Raises `RunLockedError` when another process holds it.
    """
    path = lock_path(settings, name)
    if path in _held:
        yield False
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunLockedError(
                f"{name} is being run by another process ({holder}); wait for it to finish, "
                f"then run again (lock file {path})"
            ) from None
        # Who holds it, for the second run's message; informative only, the flock is the lock.
        os.ftruncate(fd, 0)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}".encode(), 0)
        _held.add(path)
        try:
            yield True
        finally:
            _held.discard(path)
    finally:
        os.close(fd)
