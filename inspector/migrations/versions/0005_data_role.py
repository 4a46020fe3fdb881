"""The data team's role: `users.role` may also be 'data' (decision 0009's role list, widened).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

PostgreSQL replaces the CHECK constraint. SQLite cannot alter a constraint, and the usual rebuild
(copy `users`, drop it, rename the copy) fails here: `outcomes`, `waivers` and the clearances
reference `users`, foreign keys are on, and migrations run inside one transaction, where they
cannot be switched off. Widening a CHECK changes no stored row, so SQLite's own procedure for such
changes applies (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
Schema Changes"): rewrite the table's definition in the schema table and bump the schema
version, in the same transaction. Downgrading refuses while an account has the 'data' role.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "role IN ('inspector', 'supervisor', 'admin')"
NEW = "role IN ('inspector', 'supervisor', 'admin', 'data')"


def _replace_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint("ck_users_role", "users", type_="check")
        op.create_check_constraint("ck_users_role", "users", new)
        return
    definition = bind.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'")
    ).scalar_one()
    if old not in definition:
        raise RuntimeError(f"users' CHECK is not {old!r}; not rewriting: {definition}")
    version = bind.execute(text("PRAGMA schema_version")).scalar_one()
    bind.execute(text("PRAGMA writable_schema = ON"))
    bind.execute(
        text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'users'"),
        {"sql": definition.replace(old, new)},
    )
    # Other connections re-read the schema when its version changes.
    bind.execute(text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    _replace_check(OLD, NEW)


def downgrade() -> None:
    if op.get_bind().execute(text("SELECT count(*) FROM users WHERE role = 'data'")).scalar_one():
        raise RuntimeError("accounts with the 'data' role exist: change their role first")
    _replace_check(NEW, OLD)
