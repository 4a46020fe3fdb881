"""Alembic environment: migrate the connection handed over by `inspector.migrate`, or a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from inspector.db import Base, make_engine


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (which has no ALTER COLUMN).
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


_main()
