"""The nightly run end to end on a small simulated world: through Airflow, and without it.

One module-scoped world (20 days of history, then the night of day 21) serves every test; each test
copies it before changing anything.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from contracts.ranked_list import RANKED_LIST
from pipelines import nightly
from pipelines.outcomes import import_outcome_files
from pipelines.settings import Settings, load_settings
from pipelines.staging import ingest_and_stage
from pipelines.train import train_models
from pipelines.watchlists.shipped import load_shipped
from simulator.stage import simulate_world
from tests.airflow_support import airflow_env, run_airflow

START = date(2026, 1, 1)
DAYS = 21
NIGHT = START + timedelta(days=DAYS - 1)

pytestmark = pytest.mark.slow


def _settings(home: Path) -> Settings:
    return load_settings(environ={}, home=home, capacity_red_default=5, capacity_yellow_default=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home with 20 days of history ingested, featurized and a champion model."""
    home = tmp_path_factory.mktemp("world") / "home"
    settings = _settings(home)
    result = simulate_world(settings, START, DAYS, 400, threat_rate=0.03, seed=7)
    load_shipped(settings)
    history = [p for p in result.declaration_files if NIGHT.isoformat() not in p.name]
    ingest_and_stage(history, settings, now=datetime(2026, 1, 21, 1, tzinfo=UTC))
    import_outcome_files(
        [p for p in result.outcome_files if NIGHT.isoformat() not in p.name], settings
    )
    for offset in range(DAYS - 1):
        nightly.featurize(settings, START + timedelta(days=offset))
    train_models(settings, NIGHT - timedelta(days=1), datetime(2026, 1, 21, tzinfo=UTC))
    return home


def _copy(world: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(world, home)
    return _settings(home)


def _lists(settings: Settings) -> dict[str, bytes]:
    folder = settings.zone("lists") / f"date={NIGHT}"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_the_nightly_dag_runs_in_airflow(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    env = airflow_env(tmp_path / "airflow", settings.home)
    env.update(CARGO_RISK_CAPACITY_RED_DEFAULT="5", CARGO_RISK_CAPACITY_YELLOW_DEFAULT="10")
    migrated = run_airflow(["db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    done = run_airflow(
        ["dags", "test", "cargo_risk_nightly", "-c", f'{{"date": "{NIGHT}"}}'], env, timeout=900
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "state=success" in log
    ranked = pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet")
    assert ranked.columns == RANKED_LIST.names
    assert ranked["list_date"].unique().to_list() == [NIGHT]
    per_port = ranked.group_by("port_of_discharge").agg(
        pl.col("rank").sort().alias("ranks"), (pl.col("lane") == "red").sum().alias("red")
    )
    for ranks in per_port["ranks"]:
        assert ranks.to_list() == list(range(1, len(ranks) + 1))
    assert ranked.filter(pl.col("lane") != "green")["reasons"].str.len_chars().min() > 0  # type: ignore[operator]
    report = settings.zone("reports") / "runs" / f"date={NIGHT}" / "report.md"
    assert "## Selection" in report.read_text()


def test_rerun_of_a_night_gives_byte_identical_lists(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    nightly.run_night(settings, NIGHT)
    first = _lists(settings)
    nightly.run_night(settings, NIGHT)
    assert _lists(settings) == first
    assert any(name.endswith(".html") for name in first)


def test_a_run_killed_mid_way_and_rerun_gives_the_same_lists(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = _copy(world, tmp_path / "clean")
    nightly.run_night(clean, NIGHT)
    crashed = _copy(world, tmp_path / "crashed")

    def die(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("killed while publishing")

    monkeypatch.setattr("pipelines.publish.write_safe_csv", die)
    with pytest.raises(KeyboardInterrupt):
        nightly.run_night(crashed, NIGHT)
    assert not (crashed.zone("lists") / f"date={NIGHT}").exists()
    monkeypatch.undo()
    nightly.run_night(crashed, NIGHT)
    assert _lists(crashed) == _lists(clean)


def test_bad_rows_of_the_night_are_quarantined_with_reasons(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    landing = settings.zone("landing") / "declarations"
    night_file = next(landing.glob(f"declarations_{NIGHT}.csv"))
    rows = pl.read_csv(night_file, infer_schema=False).head(3)
    broken = rows.with_columns(
        pl.Series("declaration_id", ["LATE-1", "LATE-2", "LATE-3"]),
        pl.Series(
            "port_of_loading", ["XXQQQ", rows["port_of_loading"][1], rows["port_of_loading"][2]]
        ),
        pl.Series("gross_mass_kg", [rows["gross_mass_kg"][0], "-5", rows["gross_mass_kg"][2]]),
    )
    broken.write_csv(landing / "late_corrections.csv")
    summary = nightly.run_night(settings, NIGHT)["validate"]
    quarantine = pl.read_parquet(settings.zone("quarantine") / "declarations" / f"date={NIGHT}")
    late = quarantine.filter(pl.col("_source_file").str.ends_with("late_corrections.csv"))
    assert sorted(zip(late["_line"], late["field"], strict=True)) == [
        (2, "port_of_loading"),
        (3, "gross_mass_kg"),
    ]
    assert late["reason"].to_list() == ["unknown UN/LOCODE", "must be > 0"]
    staged = pl.read_parquet(settings.zone("staging") / "declarations" / f"date={NIGHT}")
    assert "LATE-3" in staged["declaration_id"].to_list()
    assert summary["rows_rejected"] == quarantine.select("_source_file", "_line").n_unique()


def test_evaluation_counts_the_planted_threats_of_the_night(world: Path, tmp_path: Path) -> None:
    from simulator.evaluate import evaluate_range, summarise

    settings = _copy(world, tmp_path)
    nightly.run_night(settings, NIGHT)
    evaluation = evaluate_range(settings, NIGHT, NIGHT)
    truth = pl.read_parquet(settings.zone("truth") / "ground_truth.parquet").filter(
        pl.col("filed_date") == NIGHT
    )
    listed = pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet")
    planted = truth.join(listed, on=["declaration_id", "item_no"]).group_by("threat_category").len()
    pooled = summarise(evaluation.table, [])
    for category, count in planted.iter_rows():
        rows = pooled.filter((pl.col("kind") == category) & (pl.col("method") == "rank"))
        assert rows["positives"].to_list() == [count, count, count]
    assert set(pooled["method"]) == {"rank", "risk", "rules", "legacy"}
    assert pooled["recall"].drop_nulls().is_between(0, 1).all()
    assert pooled["precision"].drop_nulls().is_between(0, 1).all()
    text = evaluation.report.read_text()
    assert "| cbrn | rank |" in text and "## Per port" in text
    from typer.testing import CliRunner

    from pipelines.cli import app

    shown = CliRunner().invoke(
        app, ["--home", str(settings.home), "evaluate", "--from", str(NIGHT), "--to", str(NIGHT)]
    )
    assert shown.exit_code == 0, shown.output
    assert "| all | risk |" in shown.output


def test_backfill_of_a_range_from_the_cli(world: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    settings = _copy(world, tmp_path)
    first = NIGHT - timedelta(days=1)
    done = CliRunner().invoke(
        app, ["--home", str(settings.home), "run", "--from", str(first), "--to", str(NIGHT)]
    )
    assert done.exit_code == 0, done.output
    for day in (first, NIGHT):
        ranked = pl.read_parquet(settings.zone("lists") / f"date={day}" / "ranked_list.parquet")
        assert ranked["list_date"].unique().to_list() == [day]
