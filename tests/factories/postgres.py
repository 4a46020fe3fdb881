"""Throw-away PostgreSQL databases on the server `scripts/services.sh start` runs on loopback.

Each test gets a database of its own (created empty, dropped with FORCE afterwards), so tests do
not share rows, triggers or locks. Without the server the caller skips, with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipelines.celery_night import Services


def postgres_unavailable() -> str | None:
    """None when the project's PostgreSQL and Redis answer, else why not (one line)."""
    return Services.from_script().available()


@contextmanager
def fresh_postgres_database(prefix: str = "test") -> Iterator[str]:
    """The SQLAlchemy URL (psycopg) of a new empty database, dropped when the block ends."""
    admin_url = Services.from_script().admin_db_url
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
