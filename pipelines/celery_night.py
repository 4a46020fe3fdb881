"""Run one night through Airflow's CeleryExecutor: Redis as broker, PostgreSQL for the metadata.

The real distributed set-up on one machine: a scheduler, a DAG processor, the API server (Celery
workers reach the task execution API through it) and two Celery workers, each a process of its
own that shares nothing with the others but the metadata DB, the broker and the data home. The
services come from `scripts/services.sh start`; this module starts and stops only Airflow's
processes, and gives each run a fresh metadata database that it drops afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipelines.loopback import free_loopback_port
from pipelines.settings import Settings, airflow_environment

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
REPO = DAGS_FOLDER.parent
DAG_ID = "cargo_risk_nightly"
STOP_GRACE_SECONDS = 30.0
NO_STATE = "none"
"""How a task instance without a state (it never ran) reads in `TaskRun.state`."""


@dataclass(frozen=True)
class Services:
    """Where the services listen: SQLAlchemy URLs of PostgreSQL and the Redis broker's URL."""

    admin_db_url: str  # any database of the server: used to create and drop the run's own DB
    redis_url: str

    @classmethod
    def from_script(cls) -> Services:
        """The settings `scripts/services.sh env` prints (the services need not be running)."""
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "services.sh"), "env"],
            capture_output=True,
            text=True,
            check=True,
        )
        values = dict(
            line.removeprefix("export ").split("=", 1)
            for line in done.stdout.splitlines()
            if "=" in line
        )
        return cls(values["CARGO_RISK_PG_ADMIN_URL"], values["CARGO_RISK_REDIS_URL"])

    def available(self) -> str | None:
        """None when PostgreSQL and Redis both answer, else what is missing (one line)."""
        try:
            engine = create_engine(self.admin_db_url)
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as error:  # any driver error means "not reachable"
            return f"PostgreSQL not reachable ({type(error).__name__})"
        url = make_url(self.redis_url.replace("redis://", "postgresql://", 1))
        try:
            with socket.create_connection((url.host or "127.0.0.1", url.port or 6379), 3) as s:
                s.sendall(b"PING\r\n")
                if not s.recv(16).startswith(b"+PONG"):
                    return "Redis did not answer PING"
        except OSError as error:
            return f"Redis not reachable ({error})"
        return None


@dataclass(frozen=True)
class Usage:
    """What a process and every descendant it waited for used: CPU seconds and the largest
    peak resident memory among them (the kernel's rusage of a reaped child, RUSAGE_BOTH)."""

    cpu_seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class TaskRun:
    """One task instance of the run, from Airflow's metadata: its time and the worker it ran on
    (the worker whose log received its Celery task id; "" when no log names it)."""

    task_id: str
    map_index: int
    state: str
    seconds: float
    worker: str
    started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True)
class CeleryNight:
    """What a night on Celery did: its final state, where each task ran, the logs folder, and
    what each worker used (its tasks' processes included)."""

    state: str
    tasks_by_worker: dict[str, int]
    failed_tasks: list[str]
    log_dir: Path
    seconds: float
    usage_by_worker: dict[str, Usage] = field(default_factory=dict)
    tasks: list[TaskRun] = field(default_factory=list)


@contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database `<prefix>_<random>` on the server of `admin_url` (for
    one run's Airflow metadata, or one test's tables); dropped, connections and all, afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def celery_environment(
    settings: Settings, metadata_url: str, redis_url: str, api_port: int, queue: str
) -> dict[str, str]:
    """The environment every Airflow process of a Celery night shares.

    `queue` is the run's own Celery queue: runs sharing one broker must not take each other's
    tasks (a stopping worker of an earlier run once took a task of the next and never ran it).
    """
    env = airflow_environment(settings, DAGS_FOLDER)
    # Airflow starts its own subprocesses by the command name `airflow`.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        # Airflow would derive asyncpg for its async engine; psycopg 3 serves both.
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=metadata_url.replace(
            "+psycopg://", "+psycopg_async://", 1
        ),
        AIRFLOW__CELERY__BROKER_URL=redis_url,
        # Task states travel back through the metadata DB (Celery's SQLAlchemy result backend).
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + metadata_url,
        AIRFLOW__CELERY__WORKER_CONCURRENCY="1",
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        # Only triggered runs: no scheduled run for "yesterday" may start beside the one asked for.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, with its children
        )


def _stop(processes: list[subprocess.Popen[bytes]]) -> dict[int, Usage]:
    """Stop each process's group (SIGTERM, then SIGKILL after the grace) and reap it with
    `wait4`, whose rusage covers the process and the descendants it waited for (a Celery
    worker's pool and the task processes under it); by pid."""
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    usage: dict[int, Usage] = {}
    for process in processes:
        if process.returncode is not None:
            continue  # reaped already (it died during the run)
        reaped = _reap(process, deadline)
        if reaped is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            reaped = _reap(process, None)
        if reaped is not None:
            usage[process.pid] = reaped
    return usage


def _reap(process: subprocess.Popen[bytes], deadline: float | None) -> Usage | None:
    """Wait for `process` (until `deadline`, or for good when None); its usage, None on time out."""
    while True:
        try:
            pid, status, rusage = os.wait4(process.pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            process.wait()  # Popen reaped it already
            return None
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            # ru_maxrss is in kilobytes on Linux.
            return Usage(round(rusage.ru_utime + rusage.ru_stime, 1), rusage.ru_maxrss / 1024)
        if deadline is not None and time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def _airflow_cli(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode:
        raise RuntimeError(f"airflow {' '.join(args)} failed; see {log}")


def run_night_on_celery(
    settings: Settings,
    day: date,
    services: Services,
    log_dir: Path,
    *,
    workers: int = 2,
    timeout_seconds: float = 1500.0,
    extra_env: dict[str, str] | None = None,
) -> CeleryNight:
    """Trigger the nightly DAG for `day` on a scheduler and `workers` Celery workers; wait for it.

    Raises RuntimeError when a component dies or the run does not end within the timeout.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with fresh_database(services.admin_db_url, "airflow_run") as metadata_url:
        queue = f"cargo_risk_{uuid.uuid4().hex[:12]}"
        env = celery_environment(
            settings, metadata_url, services.redis_url, free_loopback_port(), queue
        )
        env.update(extra_env or {})
        setup_log = log_dir / "setup.log"
        _airflow_cli(["db", "migrate"], env, setup_log)
        # The DAG goes into the metadata DB before anything runs, so the trigger finds it at once.
        _airflow_cli(["dags", "reserialize"], env, setup_log)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            processes.append(_start(["api-server"], env, log_dir / "api-server.log"))
            processes.append(_start(["scheduler"], env, log_dir / "scheduler.log"))
            processes.append(_start(["dag-processor"], env, log_dir / "dag-processor.log"))
            for number in range(1, workers + 1):
                worker_env = dict(env)
                # Each worker serves its task logs on a port of its own.
                worker_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_loopback_port())
                processes.append(
                    _start(
                        [
                            "celery",
                            "worker",
                            "--queues",
                            queue,
                            "--concurrency",
                            "1",
                            "--celery-hostname",
                            f"worker{number}@%h",
                        ],
                        worker_env,
                        log_dir / f"worker{number}.log",
                    )
                )
            run_id = f"celery__{day}__{uuid.uuid4().hex[:8]}"
            conf = json.dumps({"date": day.isoformat()})
            _airflow_cli(["dags", "unpause", DAG_ID], env, setup_log)
            _airflow_cli(
                ["dags", "trigger", DAG_ID, "--run-id", run_id, "-c", conf], env, setup_log
            )
            state = _wait_for_run(metadata_url, run_id, processes, started + timeout_seconds)
            seconds = time.monotonic() - started
            logs = _worker_logs(log_dir, workers)
            tasks = _task_runs(metadata_url, run_id, logs)
            by_worker = {worker: _received(log) for worker, log in logs.items()}
            failed = _failed(tasks)
        finally:
            usage = _stop(processes)
    # The workers were started last, in order: worker1, worker2, ...
    usage_by_worker = {
        f"worker{number}": usage[process.pid]
        for number, process in enumerate(processes[-workers:], start=1)
        if process.pid in usage
    }
    return CeleryNight(state, by_worker, failed, log_dir, seconds, usage_by_worker, tasks)


def _wait_for_run(
    metadata_url: str, run_id: str, processes: list[subprocess.Popen[bytes]], deadline: float
) -> str:
    engine = create_engine(metadata_url)
    try:
        while time.monotonic() < deadline:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
            with engine.connect() as connection:
                state = connection.execute(
                    text("SELECT state FROM dag_run WHERE run_id = :run_id"), {"run_id": run_id}
                ).scalar()
            if state in ("success", "failed"):
                return str(state)
            time.sleep(5)
    finally:
        engine.dispose()
    raise RuntimeError(f"run {run_id} did not finish in time")


def _worker_logs(log_dir: Path, workers: int) -> dict[str, str]:
    """Each worker's log, by worker name, read once for the counts and the placements."""
    return {
        f"worker{number}": (log_dir / f"worker{number}.log").read_text(errors="replace")
        for number in range(1, workers + 1)
    }


def _received(log: str) -> int:
    """Tasks a worker's log says it received."""
    return sum("execute_workload" in line and "received" in line for line in log.splitlines())


def _task_runs(metadata_url: str, run_id: str, logs: dict[str, str]) -> list[TaskRun]:
    """Every task instance of the run with its seconds, and the worker whose log received its
    Celery task id (Airflow keeps that id as the instance's `external_executor_id`). A task
    that never got a state reads "none"."""
    engine = create_engine(metadata_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT task_id, map_index, state, start_date, end_date, external_executor_id"
                " FROM task_instance WHERE run_id = :run_id ORDER BY start_date, task_id,"
                " map_index"
            ),
            {"run_id": run_id},
        ).all()
    engine.dispose()
    runs = []
    for task_id, map_index, state, start, end, celery_id in rows:
        seconds = (end - start).total_seconds() if start is not None and end is not None else 0.0
        worker = next((w for w, log in logs.items() if celery_id and celery_id in log), "")
        runs.append(
            TaskRun(
                task_id=str(task_id),
                map_index=int(map_index),
                state=str(state or NO_STATE),
                seconds=round(seconds, 1),
                worker=worker,
                started=start,
                ended=end,
            )
        )
    return runs


def _failed(tasks: list[TaskRun]) -> list[str]:
    """Tasks that ran and neither succeeded nor skipped, by task id (a task with no state yet is
    not counted: it never ran)."""
    return sorted(t.task_id for t in tasks if t.state not in ("success", "skipped", NO_STATE))
