"""Throw-away PostgreSQL databases on the server `scripts/services.sh start` runs on loopback.

Each test gets a database of its own (created empty, dropped with FORCE afterwards), so tests do
not share rows, triggers or locks. Without the server the caller skips, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.celery_night import Services, fresh_database


def postgres_unavailable() -> str | None:
    """None when the project's PostgreSQL and Redis answer, else why not (one line)."""
    return Services.from_script().available()


@contextmanager
def fresh_postgres_database(prefix: str = "test") -> Iterator[str]:
    """The SQLAlchemy URL (psycopg) of a new empty database, dropped when the block ends."""
    with fresh_database(Services.from_script().admin_db_url, prefix) as url:
        yield url
