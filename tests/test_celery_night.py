"""A night on the real distributed executor: Airflow's CeleryExecutor, Redis, PostgreSQL.

A scheduler, a DAG processor, the API server and two Celery workers run the nightly DAG for one
date of a small simulated home; its lists must be byte-identical to `cargo-risk run`'s for the
same date on a copy of the same home. The services come from `scripts/services.sh start` (CI's
.ci/run starts them); without them the test is skipped and says why.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines import nightly
from pipelines.celery_night import Services, run_night_on_celery
from pipelines.outcomes import import_outcome_files
from pipelines.settings import Settings, load_settings
from pipelines.staging import ingest_and_stage
from pipelines.train import train_models
from pipelines.watchlists.shipped import load_shipped
from simulator.stage import simulate_world

START = date(2026, 1, 1)
DAYS = 15
NIGHT = START + timedelta(days=DAYS - 1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services() -> Services:
    found = Services.from_script()
    missing = found.available()
    if missing:
        pytest.skip(f"{missing}: run `scripts/services.sh start` (as root) first")
    return found


def _settings(home: Path) -> Settings:
    return load_settings(environ={}, home=home, capacity_red_default=5, capacity_yellow_default=10)


def _world(home: Path) -> Settings:
    """A data home with 14 days of history ingested, featurized and a champion model."""
    settings = _settings(home)
    result = simulate_world(settings, START, DAYS, 300, threat_rate=0.03, seed=11)
    load_shipped(settings)
    ingest_and_stage(
        [p for p in result.declaration_files if NIGHT.isoformat() not in p.name],
        settings,
        now=datetime(2026, 1, 15, 1, tzinfo=UTC),
    )
    import_outcome_files(
        [p for p in result.outcome_files if NIGHT.isoformat() not in p.name], settings
    )
    for offset in range(DAYS - 1):
        nightly.featurize(settings, START + timedelta(days=offset))
    train_models(settings, NIGHT - timedelta(days=1), datetime(2026, 1, 15, tzinfo=UTC))
    return settings


def _lists(settings: Settings) -> dict[str, bytes]:
    folder = settings.zone("lists") / f"date={NIGHT}"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_a_night_on_two_celery_workers_gives_the_lists_of_cargo_risk_run(
    services: Services, tmp_path: Path
) -> None:
    on_celery = _world(tmp_path / "celery")
    alone = _settings(tmp_path / "alone")
    shutil.copytree(on_celery.home, alone.home)

    nightly.run_night(alone, NIGHT)
    night = run_night_on_celery(
        on_celery,
        NIGHT,
        services,
        tmp_path / "logs",
        extra_env={
            "CARGO_RISK_CAPACITY_RED_DEFAULT": "5",
            "CARGO_RISK_CAPACITY_YELLOW_DEFAULT": "10",
        },
    )

    assert night.state == "success", (night.failed_tasks, night.log_dir)
    # Both workers took tasks: the night really was spread over two processes.
    assert all(count > 0 for count in night.tasks_by_worker.values()), night.tasks_by_worker
    expected = _lists(alone)
    assert any(name.endswith(".parquet") for name in expected)
    assert _lists(on_celery) == expected
