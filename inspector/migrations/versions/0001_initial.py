"""Initial schema: users, outcomes, waivers, the append-only audit log and export runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspector.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_GUARDS = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)
_POSTGRES_GUARDS = (
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
)


def _item_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("list_date", sa.Date, nullable=False),
        sa.Column("port_of_discharge", sa.String(5), nullable=False, index=True),
        sa.Column("declaration_id", sa.String(64), nullable=False, index=True),
        sa.Column("item_no", sa.Integer, nullable=False),
        sa.Column("selection_reason", sa.String(16), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("ports", sa.String(1024), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("session_version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("role IN ('inspector', 'supervisor', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "outcomes",
        *_item_columns(),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("finding_category", sa.String(16), nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("inspector_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("inspected_at", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("export_n", sa.Integer, nullable=True, index=True),
        sa.CheckConstraint("result IN ('no_finding', 'finding')", name="ck_outcomes_result"),
        sa.CheckConstraint(
            "(result = 'finding') = (finding_category IS NOT NULL)", name="ck_outcomes_category"
        ),
    )
    op.create_table(
        "waivers",
        *_item_columns(),
        sa.Column("lane", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("waived_by", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("waived_at", UTCDateTime, nullable=False),
        sa.Column("export_n", sa.Integer, nullable=True, index=True),
        sa.CheckConstraint("length(trim(reason)) > 0", name="ck_waivers_reason"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False, index=True),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "export_runs",
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("outcomes", sa.Integer, nullable=False),
        sa.Column("waivers", sa.Integer, nullable=False),
        sa.Column("outcomes_file", sa.String(512), nullable=True),
        sa.Column("waivers_file", sa.String(512), nullable=True),
    )
    guards = _POSTGRES_GUARDS if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in ("export_runs", "audit_events", "waivers", "outcomes", "users"):
        op.drop_table(table)
