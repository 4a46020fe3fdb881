"""The data team's role: the quarantine and the run reports, every port's lists to read, and no
way to record an inspection; the migration that admits the role in existing databases."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy.exc
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from inspector.accounts import create_user, list_users
from inspector.config import InspectorConfig
from inspector.db import Outcome, make_engine, session_factory
from inspector.migrate import alembic_config, upgrade
from inspector.sample import build_sample_home, declaration_id
from pipelines import layout
from pipelines.cli import app as cli_app
from pipelines.io import write_text
from pipelines.settings import Settings, load_settings
from tests.factories.inspector_home import add_run_leftovers, app_client

DAY = date(2026, 3, 10)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    build_sample_home(tmp_path / "home", DAY)
    settings = load_settings(environ={}, home=tmp_path / "home")
    add_run_leftovers(settings, DAY)
    report = layout.run_report_dir(settings, DAY)
    write_text(
        "<!doctype html><h1>Run report 2026-03-10</h1><img src='plots/score.png'>",
        report / "report.html",
    )
    write_text("# Run report 2026-03-10\n", report / "report.md")
    (report / "plots").mkdir()
    (report / "plots" / "score.png").write_bytes(PNG)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    for name, role, ports in (
        ("dana", "data", []),
        ("ina", "inspector", ["NLRTM"]),
        ("sam", "supervisor", []),
    ):
        create_user(settings, name, PASSWORD, role, ports, config=config)
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings) as client:
        yield client


def _login(client: TestClient, username: str) -> str:
    client.cookies.clear()
    token = CSRF.search(client.get("/login").text)
    assert token
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    found = CSRF.search(client.get("/lists").text)
    assert found
    return found.group(1)


def test_the_data_team_reads_the_quarantine_and_the_run_reports(client: TestClient) -> None:
    _login(client, "dana")
    quarantine = html.unescape(client.get("/quarantine").text)
    assert "2 rejected rows, by reason" in quarantine
    assert 'href="/quarantine"' in quarantine and 'href="/reports"' in quarantine
    index = client.get("/reports")
    assert index.status_code == 200
    assert f'href="/reports/{DAY}/report.html"' in index.text
    assert f'href="/reports/{DAY}/report.md"' in index.text
    page = client.get(f"/reports/{DAY}/report.html")
    assert page.status_code == 200 and "Run report 2026-03-10" in page.text
    assert "'unsafe-inline'" in page.headers["content-security-policy"]
    assert "script" not in page.headers["content-security-policy"]
    plot = client.get(f"/reports/{DAY}/plots/score.png")
    assert plot.status_code == 200 and plot.content == PNG
    assert client.get(f"/reports/{DAY}/report.md").text.startswith("# Run report")


def test_the_data_team_reads_every_ports_lists_but_records_nothing(client: TestClient) -> None:
    token = _login(client, "dana")
    assert client.get(f"/lists/{DAY}/NLRTM").status_code == 200
    assert client.get(f"/lists/{DAY}/SGSIN").status_code == 200
    n = declaration_id("NLRTM", DAY, 1)
    item = client.get(f"/lists/{DAY}/NLRTM/item?declaration_id={n}&item_no=1")
    assert item.status_code == 200 and "/outcome" not in item.text
    refused = client.post(
        f"/lists/{DAY}/NLRTM/outcome",
        data={
            "csrf_token": token,
            "idempotency_key": "key-data-1",
            "declaration_id": n,
            "item_no": "1",
            "result": "no_finding",
        },
    )
    assert refused.status_code == 403
    with client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(Outcome)) == 0
    for page in ("/supervisor", "/audit"):
        assert client.get(page).status_code == 403, page


def test_only_the_report_files_are_served(client: TestClient) -> None:
    _login(client, "dana")
    assert client.get(f"/reports/{DAY}/inspector.db").status_code == 403
    assert client.get(f"/reports/{DAY}/plots/..%2Freport.md").status_code == 404
    assert client.get("/reports/2026-03-11/report.html").status_code == 404


def test_inspectors_see_neither_and_supervisors_see_the_reports(client: TestClient) -> None:
    _login(client, "ina")
    for page in ("/quarantine", "/reports", f"/reports/{DAY}/report.html"):
        assert client.get(page).status_code == 403, page
    _login(client, "sam")
    assert client.get("/reports").status_code == 200
    assert client.get("/quarantine").status_code == 403


def test_users_add_takes_the_data_role(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = CliRunner().invoke(
        cli_app,
        ["--home", str(home), "users", "add", "dana", "--role", "data", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert done.exit_code == 0, done.output
    assert "added data dana" in done.output
    accounts = list_users(load_settings(environ={}, home=home))
    assert [(a.username, a.role) for a in accounts] == [("dana", "data")]


def _database_at_0004(url: str) -> Engine:
    """A database as the app left it before the data role, with a user and an outcome."""
    command.upgrade(alembic_config(url), "0004")
    engine = make_engine(url)
    now = datetime(2026, 3, 10, 9, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, ports, active, "
                "session_version, created_at) VALUES (1, 'ina', 'x', 'inspector', 'NLRTM', "
                ":yes, 1, :now)"
            ),
            {"now": now, "yes": True},
        )
        connection.execute(
            text(
                "INSERT INTO outcomes (idempotency_key, list_date, port_of_discharge, "
                "declaration_id, item_no, selection_reason, result, inspector_id, user_id, "
                "inspected_at, recorded_at) VALUES ('k1', :day, 'NLRTM', 'D-1', 1, 'risk', "
                "'no_finding', 'ina', 1, :now, :now)"
            ),
            {"day": DAY, "now": now},
        )
    return engine


def _add_role(engine: Engine, name: str, role: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, role, ports, active, "
                "session_version, created_at) VALUES (:name, 'x', :role, '', :yes, 1, :now)"
            ),
            {"name": name, "role": role, "yes": True, "now": datetime(2026, 3, 10)},
        )


def test_the_migration_admits_the_role_in_an_existing_database(
    tmp_path: Path, inspector_database_url: str | None
) -> None:
    url = inspector_database_url or f"sqlite:///{tmp_path / 'inspector.db'}"
    engine = _database_at_0004(url)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        _add_role(engine, "dana", "data")  # refused before the migration
    upgrade(engine)
    _add_role(engine, "dana", "data")
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        _add_role(engine, "bob", "boss")  # the constraint still holds for anything else
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Outcome)) == 1
        roles = session.execute(text("SELECT username, role FROM users ORDER BY id")).all()
    assert [tuple(r) for r in roles] == [("ina", "inspector"), ("dana", "data")]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    upgrade(engine)  # a second run is a no-op
    engine.dispose()
