"""Audit log: refuse reused ids (blocks INSERT OR REPLACE) and chain every row by hash.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspector import audit_chain
from inspector.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# SQLite fires no delete trigger when INSERT OR REPLACE drops the old row, but it does fire
# BEFORE INSERT first: refusing a taken id there blocks the replacement.
_SQLITE_NO_REUSE = (
    "CREATE TRIGGER audit_events_no_reuse BEFORE INSERT ON audit_events "
    "WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)
_SQLITE_NO_UPDATE = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)


def _backfill() -> None:
    """Chain the rows written before this migration, oldest first."""
    bind = op.get_bind()
    rows = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("at", UTCDateTime),
        sa.column("username", sa.String),
        sa.column("role", sa.String),
        sa.column("action", sa.String),
        sa.column("target", sa.String),
        sa.column("detail", sa.Text),
        sa.column("chain_hash", sa.String),
    )
    previous = audit_chain.GENESIS
    for row in bind.execute(sa.select(rows).order_by(rows.c.id)).mappings():
        content = audit_chain.canonical(
            row["at"],
            username=row["username"],
            role=row["role"],
            action=row["action"],
            target=row["target"],
            detail=row["detail"],
        )
        previous = audit_chain.chain_hash(previous, content)
        bind.execute(sa.update(rows).where(rows.c.id == row["id"]).values(chain_hash=previous))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
    op.add_column(
        "audit_events",
        sa.Column("chain_hash", sa.String(64), nullable=False, server_default=""),
    )
    _backfill()
    if postgres:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change")
    else:
        op.execute(_SQLITE_NO_UPDATE)
        op.execute(_SQLITE_NO_REUSE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
        op.drop_column("audit_events", "chain_hash")
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change")
        return
    op.execute("DROP TRIGGER audit_events_no_reuse")
    op.execute("DROP TRIGGER audit_events_no_update")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("chain_hash")
    # The batch copy may rebuild the table without its triggers: put 0001's guards back.
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    op.execute(_SQLITE_NO_UPDATE)
    op.execute(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    )
