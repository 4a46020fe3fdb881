"""Alembic migrations of the inspector database (run by `inspector.migrate.upgrade`)."""
