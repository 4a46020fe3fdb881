"""The Celery night benchmark's report: per-worker rows add up what each worker's tasks took.

The run itself needs the services and a bench world (benchmarks/celery_night.py); the report is
checked here on a night as `run_night_on_celery` returns it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.celery_night import report
from benchmarks.landing import landing_night
from pipelines.celery_night import CeleryNight, TaskRun, Usage

START = datetime(2025, 1, 5, 1, tzinfo=UTC)


def test_each_worker_row_sums_its_own_tasks() -> None:
    night = CeleryNight(
        state="success",
        tasks_by_worker={"worker1": 2, "worker2": 1},
        failed_tasks=[],
        log_dir=Path("logs"),
        seconds=95.0,
        usage_by_worker={"worker1": Usage(40.5, 2048.0), "worker2": Usage(12.0, 900.0)},
        tasks=[
            TaskRun(
                "validate", -1, "success", 30.0, "worker1", START, START + timedelta(seconds=30)
            ),
            TaskRun("assess_port", 0, "success", 12.5, "worker2"),
            TaskRun(
                "assess_port", 1, "success", 7.5, "worker1", START, START + timedelta(seconds=52)
            ),
            TaskRun("publish_ports", -1, "skipped", 0.0, ""),
        ],
    )
    text = report(night, date(2025, 1, 4), Path("W/w1000000-3"))
    assert "| worker1 | 2 | 37.5 | 40.5 | 2,048 MB |" in text
    assert "| worker2 | 1 | 12.5 | 12.0 | 900 MB |" in text
    assert "| assess_port | 1 | success | 7.5 | worker1 |" in text
    assert "| publish_ports |  | skipped | 0.0 |  |" in text
    assert "**success**, 52 s from the first task's start" in text


def test_the_night_is_the_landing_files_date(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "declarations"
    landing.mkdir(parents=True)
    (landing / "declarations_2025-01-04.csv").write_text("x\n")
    assert landing_night(tmp_path) == date(2025, 1, 4)
