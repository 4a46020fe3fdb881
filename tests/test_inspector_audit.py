"""The audit log refuses rewrites (update, delete, INSERT OR REPLACE) and its hash chain shows
the first row changed or removed behind the triggers' back."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine
from typer.testing import CliRunner

from inspector import audit
from inspector.config import InspectorConfig
from inspector.db import make_engine, session_factory, transaction
from inspector.migrate import alembic_config, upgrade
from pipelines.cli import app as cli_app


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'inspector.db'}")
    upgrade(engine)
    return engine


def _write_events(engine: Engine, n: int) -> None:
    factory = session_factory(engine)
    with transaction(factory) as session:  # several rows in one flush
        for i in range(n - 1):
            audit.record(session, None, "view", f"list/{i}", username="ina")
    with transaction(factory) as session:  # and one on its own
        audit.record(session, None, "login_failed", detail="bad password", username="bob")


def _verify(engine: Engine) -> audit.ChainCheck:
    with session_factory(engine)() as session:
        return audit.verify(session)


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _write_events(engine, 5)
    check = _verify(engine)
    assert check.intact
    assert check.rows == 5


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET detail = 'x' WHERE id = 2",
        "DELETE FROM audit_events WHERE id = 2",
        "INSERT OR REPLACE INTO audit_events (id, at, username, role, action, target, detail, "
        "chain_hash) VALUES (2, '2026-01-01 00:00:00', 'eve', '', 'view', '', '', '')",
        "REPLACE INTO audit_events (id, at, username, role, action, target, detail, chain_hash) "
        "VALUES (2, '2026-01-01 00:00:00', 'eve', '', 'view', '', '', '')",
    ],
)
def test_the_database_refuses_rewrites(tmp_path: Path, statement: str) -> None:
    engine = _engine(tmp_path)
    _write_events(engine, 3)
    with (
        sqlite3.connect(tmp_path / "inspector.db") as raw,
        pytest.raises(sqlite3.IntegrityError, match="append-only"),
    ):
        raw.execute(statement)
    assert _verify(engine).intact


@pytest.mark.parametrize(
    ("statement", "first_broken"),
    [
        ("UPDATE audit_events SET detail = 'nothing happened' WHERE id = 3", 3),
        ("DELETE FROM audit_events WHERE id = 2", 3),
    ],
)
def test_a_rewrite_behind_dropped_triggers_is_found(
    tmp_path: Path, statement: str, first_broken: int
) -> None:
    engine = _engine(tmp_path)
    _write_events(engine, 5)
    with sqlite3.connect(tmp_path / "inspector.db") as raw:
        for trigger in ("no_update", "no_delete", "no_reuse"):
            raw.execute(f"DROP TRIGGER audit_events_{trigger}")
        raw.execute(statement)
    check = _verify(engine)
    assert check.broken_id == first_broken
    assert not check.intact


def test_the_migration_chains_rows_written_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inspector.db'}"
    command.upgrade(alembic_config(url), "0001")
    with sqlite3.connect(tmp_path / "inspector.db") as raw:
        raw.executemany(
            "INSERT INTO audit_events (at, username, role, action, target, detail) "
            "VALUES (?, ?, '', 'view', ?, '')",
            [
                (datetime(2026, 3, 1, 8, i, tzinfo=UTC).isoformat(" ")[:19], "ina", f"t{i}")
                for i in range(3)
            ],
        )
    engine = _engine(tmp_path)
    _write_events(engine, 2)
    check = _verify(engine)
    assert check.intact
    assert check.rows == 5


def test_database_and_session_secret_are_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # a usual umask, which would make files world-readable
    try:
        engine = _engine(tmp_path)
        _write_events(engine, 2)
        config = InspectorConfig(
            database_url=str(engine.url), secret_file=tmp_path / "app" / "session.secret"
        )
        assert len(config.session_secret()) >= 32
    finally:
        os.umask(previous)
    for path in (tmp_path / "inspector.db", tmp_path / "inspector.db-wal", config.secret_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_audit_verify_verb_reports_the_first_broken_row(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _write_events(engine, 4)
    engine.dispose()
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'inspector.db'}"
    args = ["--home", str(tmp_path), "audit", "verify", "--database-url", url]
    intact = runner.invoke(cli_app, args)
    assert intact.exit_code == 0, intact.output
    assert "audit log intact: 4 rows" in intact.output
    with sqlite3.connect(tmp_path / "inspector.db") as raw:
        raw.execute("DROP TRIGGER audit_events_no_update")
        raw.execute("UPDATE audit_events SET username = 'eve' WHERE id = 2")
    broken = runner.invoke(cli_app, args)
    assert broken.exit_code == 1
    assert "audit log broken at row id 2" in broken.output
