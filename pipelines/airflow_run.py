"""Start the real Airflow for this project: migrate its metadata DB, run a DAG once.

Used by the demo (and usable by an operator): `airflow dags test` runs every task of one DAG run
in-process against a SQLite metadata DB, so no scheduler or webserver has to be running.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

from pipelines.settings import Settings, airflow_environment

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def migrate(settings: Settings) -> None:
    """Create or upgrade the Airflow metadata DB under the data home."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [_airflow(), "db", "migrate"],
        env=airflow_environment(settings, DAGS_FOLDER),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-4000:]}")


def run_dag_once(settings: Settings, dag_id: str, day: date, log_file: Path) -> None:
    """Run one DAG run for the filing date `day`; its log goes to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [_airflow(), "dags", "test", dag_id, "-c", json.dumps({"date": day.isoformat()})],
            env=airflow_environment(settings, DAGS_FOLDER),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    text = log_file.read_text(encoding="utf-8", errors="replace")
    if done.returncode or "state=success" not in text:
        raise RuntimeError(f"DAG {dag_id} for {day} did not succeed; see {log_file}")
