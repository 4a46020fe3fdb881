"""A night on the real distributed executor: Airflow's CeleryExecutor, Redis, PostgreSQL.

A scheduler, a DAG processor, the API server and two Celery workers run the nightly DAG for one
date of a small simulated home; its lists must be byte-identical to `cargo-risk run`'s for the
same date on a copy of the same home. The services come from `scripts/services.sh start` (CI's
.ci/run starts them); without them the test is skipped and says why.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines import nightly
from pipelines.celery_night import Services, run_night_on_celery
from pipelines.settings import Settings
from tests.factories.published import comparable_lineage, published_lists
from tests.factories.simulated_home import small_settings, trained_home

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


def _world(home: Path) -> Settings:
    """A data home with 14 days of history ingested, featurized and a champion model."""
    return trained_home(home, START, DAYS, 300, seed=11)


def test_a_night_on_two_celery_workers_gives_the_lists_of_cargo_risk_run(
    services: Services, tmp_path: Path
) -> None:
    on_celery = _world(tmp_path / "celery")
    alone = small_settings(tmp_path / "alone")
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
    # What each worker used is read when it is reaped, its task processes included: a worker
    # that ran tasks used CPU and held memory (benchmarks/celery_night.py reports these).
    assert sorted(night.usage_by_worker) == ["worker1", "worker2"]
    for usage in night.usage_by_worker.values():
        assert usage.cpu_seconds > 0 and usage.peak_rss_mb > 100, night.usage_by_worker
    # Every task that ran is placed on the worker whose log received it, as many as each counted.
    ran = [t for t in night.tasks if t.state == "success"]
    assert ran and all(t.worker in night.tasks_by_worker for t in ran), night.tasks
    for worker, count in night.tasks_by_worker.items():
        assert sum(t.worker == worker for t in ran) == count, (worker, night.tasks)
    expected = published_lists(alone, NIGHT)
    assert any(name.endswith(".parquet") for name in expected)
    assert published_lists(on_celery, NIGHT) == expected
    found = comparable_lineage(on_celery, NIGHT)
    assert found == comparable_lineage(alone, NIGHT) and found["inputs"]
