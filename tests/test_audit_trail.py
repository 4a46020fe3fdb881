"""One audit for every actor: exports, watch-list loads, model decisions, retention and the app's
own actions land in the same hash-chained log, shown by `cargo-risk audit show`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from inspector import audit
from models.registry import champion_text, read_decisions
from pipelines import audit_trail
from pipelines.cli import app
from pipelines.lifecycle import rollback
from pipelines.publish import publish_lists
from pipelines.settings import Settings, load_settings
from pipelines.train import append_decision
from pipelines.watchlists.national import load_national
from pipelines.watchlists.shipped import NATIONAL_SAMPLE
from pipelines.watchlists.store import store_list
from tests.test_publish import DAY, _ranked

runner = CliRunner()


def _settings(home: Path) -> Settings:
    return load_settings(environ={}, home=home)


def _cli(home: Path, *args: str) -> str:
    done = runner.invoke(app, ["--home", str(home), *args])
    assert done.exit_code == 0, done.output
    return done.output


def test_the_actor_is_system_inside_airflow_and_the_os_user_otherwise() -> None:
    assert audit_trail.current_actor({"AIRFLOW_CTX_DAG_ID": "cargo_risk_nightly"}) == (
        "system",
        "system",
    )
    who, role = audit_trail.current_actor({})
    assert who and who != "system" and role == "operator"


def test_every_action_kind_lands_in_one_chained_log(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    who, _ = audit_trail.current_actor()
    # A list export from the CLI.
    publish_lists(_ranked(), settings.zone("lists"), DAY)
    _cli(tmp_path, "lists", "export", "--date", DAY.isoformat(), "--out", str(tmp_path / "x.csv"))
    # A watch-list load.
    store_list(load_national(NATIONAL_SAMPLE, "national-xx", "2026-11-01"), settings)
    # A promotion then a rollback, through the decisions log.
    root = settings.zone("models")
    for version in ("v1", "v2"):
        (root / version).mkdir(parents=True)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for version, previous in (("v1", None), ("v2", "v1")):
        append_decision(
            settings,
            {"at": now.isoformat(), "action": "promote", "version": version, "previous": previous},
        )
    (root / "champion.json").write_text(champion_text("v2"), encoding="utf-8")
    rollback(settings, now)
    # An app action, written by the app's own code into the same database.
    with audit_trail.audit_session(settings) as session:
        audit.record(session, None, "login_failed", username="mallory")

    rows = audit_trail.show(settings)
    actions = [r.action for r in rows]
    assert actions == [
        "lists_export",
        "watchlist_load",
        "model_promote",
        "model_promote",
        "model_rollback",
        "login_failed",
    ]
    assert all(r.actor == who for r in rows[:5]) and rows[5].actor == "mallory"
    assert rows[1].target == "national-xx/2026-11-01"
    assert rows[4].target == "v1" and json.loads(rows[4].detail)["previous"] == "v2"
    # decisions.jsonl names the user too.
    assert {d["user"] for d in read_decisions(root)} == {who}
    # The chain holds across writers, and a pipeline row changed behind its back breaks it.
    assert "audit log intact: 6 rows" in _cli(tmp_path, "audit", "verify")
    with sqlite3.connect(tmp_path / "inspector" / "inspector.db") as raw:
        raw.execute("DROP TRIGGER audit_events_no_update")  # what someone with file access can do
        raw.execute("UPDATE audit_events SET target = 'v2' WHERE id = ?", (rows[4].id,))
    broken = runner.invoke(app, ["--home", str(tmp_path), "audit", "verify"])
    assert broken.exit_code == 1 and f"broken at row id {rows[4].id}" in broken.output


def test_audit_show_filters_by_action_actor_and_time(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    audit_trail.record_action(settings, "lists_export", "a.csv", actor=("ana", "operator"))
    audit_trail.record_action(settings, "model_promote", "v1", actor=("system", "system"))
    audit_trail.record_action(settings, "model_rollback", "v0", actor=("ana", "operator"))

    everything = _cli(tmp_path, "audit", "show")
    assert [line.split()[2] for line in everything.splitlines()] == ["ana", "system", "ana"]
    models = _cli(tmp_path, "audit", "show", "--action", "model_*", "--json")
    assert [json.loads(x)["target"] for x in models.splitlines()] == ["v1", "v0"]
    by_ana = _cli(tmp_path, "audit", "show", "--actor", "ana", "--action", "lists_export")
    assert len(by_ana.splitlines()) == 1 and "a.csv" in by_ana
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert _cli(tmp_path, "audit", "show", "--since", tomorrow).strip() == "no audit rows match"
    bad = runner.invoke(app, ["--home", str(tmp_path), "audit", "show", "--since", "soon"])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_account_changes_at_the_terminal_name_the_operator_not_system(tmp_path: Path) -> None:
    """`cargo-risk users add|disable` is a person at the CLI, as a list export is."""
    added = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path),
            "users",
            "add",
            "ina",
            "--role",
            "inspector",
            "--ports",
            "NLRTM",
            "--password-stdin",
        ],
        input="correct horse battery\n",
    )
    assert added.exit_code == 0, added.output
    _cli(tmp_path, "users", "disable", "ina")
    rows = audit_trail.show(_settings(tmp_path))
    who, _ = audit_trail.current_actor()
    assert [(r.action, r.target, r.actor, r.role) for r in rows] == [
        ("user_added", "ina", who, "operator"),
        ("user_disabled", "ina", who, "operator"),
    ]
