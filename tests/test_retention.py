"""Retention with a clock set by the test: what is past its time goes, atomically and audited;
what an open case or a recent model's training set needs stays; a dry run removes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines import layout
from pipelines.audit_trail import RETENTION_REMOVE, show
from pipelines.retention import apply_retention, night_retention, plan_retention
from pipelines.settings import Settings, load_settings

FIRST = date(2026, 1, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(10)]
AS_OF = FIRST + timedelta(days=30)
OPEN_DAY, CLOSED_DAY = DAYS[1], DAYS[2]
TRAIN_FIRST, TRAIN_LAST = DAYS[4], DAYS[5]


def _list(day: date, declaration: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "declaration_id": [declaration, f"G{day.day}"],
            "item_no": [1, 1],
            "lane": ["red", "green"],
        }
    )


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """Ten days in every cased table; a list per day; one open case; one model version."""
    settings = load_settings(environ={}, home=tmp_path, retention_days={"features": 25})
    for day in DAYS:
        for folder in (
            layout.staged_declarations(settings),
            layout.features_table(settings),
            layout.raw_declarations(settings),
        ):
            target = layout.partition(folder, day)
            target.mkdir(parents=True)
            (target / "part.parquet").write_bytes(b"x" * 10)
        lists = layout.lists_dir(settings, day)
        lists.mkdir(parents=True)
        _list(day, f"D{day.day}").write_parquet(lists / layout.LIST_FILE)
        outcomes = layout.partition(layout.staged_outcomes(settings), day)
        outcomes.mkdir(parents=True)
        # Every selected item has a result, except the one listed on OPEN_DAY.
        done = [f"D{d.day}" for d in DAYS if d == day and d != OPEN_DAY]
        pl.DataFrame(
            {"declaration_id": done, "item_no": [None] * len(done)},
            schema={"declaration_id": pl.String, "item_no": pl.Int64},
        ).write_parquet(outcomes / layout.OUTCOMES_FILE)
    version = settings.zone("models") / "20260201T000000-abc"
    version.mkdir(parents=True)
    meta = {
        "trained_until": TRAIN_LAST.isoformat(),
        "training_dates": {"first": TRAIN_FIRST.isoformat(), "last": TRAIN_LAST.isoformat()},
    }
    (version / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return settings


def _days(folder: Path) -> list[date]:
    return layout.partition_days(folder)


def test_dry_run_lists_per_zone_and_removes_nothing(home: Settings) -> None:
    before = sorted(str(p) for p in home.home.rglob("*"))
    plan = apply_retention(home, AS_OF, dry_run=True)
    assert sorted(str(p) for p in home.home.rglob("*")) == before
    tables = plan.summary()["tables"]
    # Features keep 25 days: the first 5 days are past their time (the newest never goes).
    assert tables["features"]["remove"] == [
        d.isoformat() for d in DAYS[:5] if d not in (OPEN_DAY, TRAIN_FIRST)
    ]
    assert tables["features"]["held"] == {
        "open case": [OPEN_DAY.isoformat()],
        "model training window": [TRAIN_FIRST.isoformat()],
    }
    assert "raw/declarations" not in tables  # 90 days: nothing expired
    assert show(home, actions=[RETENTION_REMOVE]) == []


def test_apply_removes_expired_keeps_needed_and_audits_each(home: Settings) -> None:
    apply_retention(home, AS_OF, actor=("system", "system"))
    kept = _days(layout.features_table(home))
    assert kept == [OPEN_DAY, TRAIN_FIRST, *DAYS[5:]]
    assert _days(layout.raw_declarations(home)) == DAYS  # within its 90 days
    assert not list(layout.features_table(home).glob(".*"))  # no hidden leftovers
    rows = show(home, actions=[RETENTION_REMOVE])
    assert [r.target for r in rows] == [
        f"features/date={d.isoformat()}" for d in DAYS[:5] if d not in (OPEN_DAY, TRAIN_FIRST)
    ]
    assert all(r.actor == "system" for r in rows)
    assert json.loads(rows[0].detail)["files"] == 1
    # A second run with the same clock finds nothing more to remove.
    assert apply_retention(home, AS_OF).removals == []


def test_a_later_clock_removes_more_and_a_recorded_outcome_closes_the_case(
    home: Settings,
) -> None:
    later = AS_OF + timedelta(days=3)
    assert DAYS[7] in [d.day for d in plan_retention(home, later).removals]
    outcomes = layout.partition(layout.staged_outcomes(home), DAYS[9])
    pl.DataFrame({"declaration_id": [f"D{OPEN_DAY.day}"], "item_no": [1]}).write_parquet(
        outcomes / layout.OUTCOMES_FILE
    )
    reasons = {(d.table, d.day): d.reason for d in plan_retention(home, later).decisions}
    assert reasons[("features", OPEN_DAY)].startswith("older than")


def test_failed_audit_puts_every_partition_back(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.audit_trail as trail

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit database unavailable")

    monkeypatch.setattr(trail, "record_action", broken)
    before = _days(layout.features_table(home))
    with pytest.raises(RuntimeError, match="audit database unavailable"):
        apply_retention(home, AS_OF)
    assert _days(layout.features_table(home)) == before


def test_unknown_table_in_settings_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path, retention_days={"featurs": 10})
    with pytest.raises(ValueError, match=r"unknown table.*featurs"):
        plan_retention(settings, AS_OF)


def test_the_nightly_task_takes_the_date_as_text_and_acts_as_system(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "cargo_risk_nightly")  # as Airflow sets it
    summary = night_retention(home, AS_OF.isoformat())
    assert summary["removed"] == 3
    assert json.loads(json.dumps(summary)) == summary
    assert {r.actor for r in show(home, actions=[RETENTION_REMOVE])} == {"system"}
