"""Sign-in attempts for the throttle (per account, per address, per pair), apart from the audit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Numbered 0004 after the watch-list clearances' 0003, so the history stays one line.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspector.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("address", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'failed', 'ok')", name="ck_login_attempts_state"),
    )


def downgrade() -> None:
    op.drop_table("login_attempts")
