"""A stage waits for its date's lock when `lock_wait_seconds` says so, and fails at once when not:
two tasks of one night on two Celery workers queue instead of failing into a retry."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from pipelines.locks import RunLockedError, date_lock_name, lock_path, run_lock
from pipelines.settings import load_settings

DAY = date(2026, 1, 15)
HOLD = 1.5


def _hold_in_another_process(path: Path) -> subprocess.Popen[str]:
    """Another process takes the flock, says so, holds it HOLD seconds and lets go."""
    path.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        f"time.sleep({HOLD})\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_without_a_wait_a_held_lock_fails_at_once(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    holder = _hold_in_another_process(lock_path(settings, date_lock_name(DAY)))
    started = time.monotonic()
    with pytest.raises(RunLockedError), run_lock(settings, date_lock_name(DAY)):
        pass
    assert time.monotonic() - started < HOLD
    holder.communicate(timeout=30)


def test_with_a_wait_the_second_taker_queues_until_the_first_lets_go(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path, lock_wait_seconds=30)
    holder = _hold_in_another_process(lock_path(settings, date_lock_name(DAY)))
    with run_lock(settings, date_lock_name(DAY)) as taken:
        assert taken
        assert holder.poll() is not None  # it had let go before we got the lock
    holder.communicate(timeout=30)


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path, lock_wait_seconds=0.3)
    holder = _hold_in_another_process(lock_path(settings, date_lock_name(DAY)))
    with (
        pytest.raises(RunLockedError, match="being run by another process"),
        run_lock(settings, date_lock_name(DAY)),
    ):
        pass
    holder.communicate(timeout=30)
