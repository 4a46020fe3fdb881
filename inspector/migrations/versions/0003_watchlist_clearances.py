"""Watch-list matches cleared as false, remembered until the party or the entry changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspector.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watchlist_clearances",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("list_name", sa.String(32), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False, index=True),
        sa.Column("entry_fingerprint", sa.String(64), nullable=False),
        sa.Column("party_fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("party_name", sa.String(512), nullable=False),
        sa.Column("party_country", sa.String(8), nullable=False),
        sa.Column("party_id", sa.String(128), nullable=False),
        sa.Column("matched_name", sa.String(512), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("cleared_by", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("cleared_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_by", sa.String(64), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
        sa.Column("withdraw_reason", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("watchlist_clearances")
