"""Start the real Airflow for this project: migrate its metadata DB, run a DAG once.

Used by the demo (and usable by an operator): `airflow dags test` runs every task of one DAG run
in-process against a SQLite metadata DB, so no scheduler or webserver has to be running.
`cargo-risk airflow-ui` runs Airflow's own UI (`airflow standalone`) on the same home.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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


STOP_GRACE_SECONDS = 30.0


def standalone_environment(settings: Settings, host: str, port: int) -> dict[str, str]:
    """The environment of `airflow standalone` for this project's DAGs only.

    Airflow's components start each other by the command name `airflow`, so the venv's bin folder
    goes first on PATH; the example DAGs stay out; the API server listens on `host:port`.
    """
    env = airflow_environment(settings, DAGS_FOLDER)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(AIRFLOW__API__HOST=host, AIRFLOW__API__PORT=str(port))
    return env


def password_file(settings: Settings) -> Path:
    """Where Airflow's simple auth manager writes the generated admin password."""
    return settings.airflow_home / "simple_auth_manager_passwords.json.generated"


def serve_ui(settings: Settings, host: str, port: int) -> int:
    """Run `airflow standalone` until it ends or this process is interrupted; then stop it whole.

    Airflow runs in a process group of its own, so Ctrl-C, SIGTERM or its own exit take every
    component down (scheduler, dag processor, triggerer, API server and their workers): stopping
    `standalone` alone used to leave its children running. Returns Airflow's exit code.
    """
    migrate(settings)
    process = subprocess.Popen(
        [_airflow(), "standalone"],
        env=standalone_environment(settings, host, port),
        start_new_session=True,
    )
    # Both handlers are set here: a process started in the background inherits SIGINT ignored.
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_group(process)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's whole process group, then SIGKILL to whatever is left."""
    group = process.pid
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(group):
                return
            time.sleep(0.2)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
