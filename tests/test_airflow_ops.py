"""Operating Airflow: data errors fail once, failures are notified, the UI command starts and stops
Airflow whole with only this project's DAGs."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.airflow_tasks import (
    FAILURES_FILE,
    DataStop,
    DataStopAtOnce,
    FailureFileNotifier,
    one_line_on_bad_data,
    operator_line,
)
from pipelines.loopback import free_loopback_port
from pipelines.staging import BatchError
from tests.airflow_support import REPO, airflow_env, run_airflow


def test_a_data_error_stops_at_once_with_one_line() -> None:
    with (
        pytest.raises(DataStopAtOnce, match="BatchError: no declarations") as stopped,
        one_line_on_bad_data(fail_at_once=True),
    ):
        raise BatchError("no declarations filed on 2026-03-31 reached raw")
    message = str(stopped.value)
    assert "\n" not in message and "then clear this task" in message
    assert stopped.value.__cause__ is None and stopped.value.__suppress_context__


def test_a_full_disk_is_one_line_and_keeps_its_retries() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/data/home/staging")
    with pytest.raises(DataStop) as stopped, one_line_on_bad_data(fail_at_once=True):
        raise full
    assert type(stopped.value) is DataStop
    assert "/data/home/staging: No space left on device; free space" in str(stopped.value)


def test_a_date_locked_by_another_run_is_one_line_and_keeps_its_retries() -> None:
    from pipelines.locks import RunLockedError

    held = RunLockedError("date=2026-03-31 is being run by another process (pid 7 on h since t)")
    with pytest.raises(DataStop) as stopped, one_line_on_bad_data(fail_at_once=True):
        raise held
    assert type(stopped.value) is DataStop
    assert "RunLockedError: date=2026-03-31 is being run by another process" in str(stopped.value)


def test_a_bug_keeps_its_exception_and_traceback() -> None:
    assert operator_line(KeyError("score")) is None
    with pytest.raises(KeyError), one_line_on_bad_data(fail_at_once=True):
        raise KeyError("score")


FAULT_DAG = """
import pendulum
from airflow.sdk import dag, task
from pipelines.airflow_tasks import DATA_STOP_POLICY, run_stage_task

@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=0)})
def faults():
    @task(retry_policy=DATA_STOP_POLICY)
    def data_error():
        return run_stage_task("validate", "2026-03-31")  # an empty home: nothing reached raw

    @task(retry_policy=DATA_STOP_POLICY, trigger_rule="all_done")
    def bug():
        return run_stage_task("validate", "31/03/2026")  # not ISO: only a bug passes this

    data_error() >> bug()

faults()
"""


@pytest.mark.slow
def test_airflow_logs_a_data_error_as_one_line_and_a_bug_with_its_traceback(
    tmp_path: Path,
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "faults.py").write_text(FAULT_DAG)
    env = airflow_env(tmp_path / "airflow", tmp_path / "home")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    assert run_airflow(["db", "migrate"], env).returncode == 0
    done = run_airflow(["dags", "test", "faults", "2026-03-31"], env)
    log = done.stdout + done.stderr
    # The tasks run one after the other: cut the log where the second one starts.
    starts = [i for i, line in enumerate(log.splitlines()) if "Task started" in line]
    assert len(starts) == 3, log[-3000:]  # data_error once, bug twice (one retry)
    lines = log.splitlines()
    data_part, bug_part = "\n".join(lines[: starts[1]]), "\n".join(lines[starts[1] :])
    told = [line for line in data_part.splitlines() if "cargo-risk: BatchError" in line]
    assert len(told) == 1 and "no declarations filed on 2026-03-31" in told[0]
    assert "then clear this task" in told[0]
    assert "Traceback" not in data_part and "up_for_retry" not in data_part
    assert "action=fail" in data_part
    assert bug_part.count("Traceback") == 2 and "ValueError" in bug_part


class _Task:
    dag_id = "cargo_risk_nightly"
    task_id = "validate"
    run_id = "manual__1"
    try_number = 1


def test_failure_notifier_appends_one_line_per_failure(tmp_path: Path) -> None:
    notifier = FailureFileNotifier(home=tmp_path)
    for _ in range(2):
        notifier.notify({"ti": _Task(), "exception": ValueError("bad\nrow")})
    lines = (tmp_path / "reports" / FAILURES_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["task_id"] == "validate"
    assert record["error"] == "bad row"


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment holds `marker` (this test's own AIRFLOW_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _get(url: str, token: str | None = None) -> dict[str, object]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, object] = json.load(answer)
        return result


@pytest.mark.slow
def test_airflow_ui_serves_only_project_dags_and_stops_whole(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CARGO_RISK"))}
    env.update(CARGO_RISK_HOME=str(home), AIRFLOW__API_AUTH__JWT_SECRET="t" * 70)
    # PATH without the venv: the command must find Airflow's own executables by itself.
    env["PATH"] = "/usr/bin:/bin"
    log = (tmp_path / "airflow-ui.log").open("wb")
    cli = subprocess.Popen(
        [str(Path(sys.executable).with_name("cargo-risk")), "airflow-ui", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    marker = f"AIRFLOW_HOME={home / 'airflow'}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert cli.poll() is None, (tmp_path / "airflow-ui.log").read_text()[-3000:]
            try:
                health = _get(f"{base}/api/v2/monitor/health")
                if health["scheduler"]["status"] == "healthy":  # type: ignore[index]
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Airflow's UI did not come up"
            time.sleep(2)
        secrets = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(secrets.read_text(encoding="utf-8"))["admin"]
        login = urllib.request.Request(
            f"{base}/auth/token",
            data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as answer:
            token = json.load(answer)["access_token"]
        dags = _get(f"{base}/api/v2/dags", token)
        # One DAG per file in dags/, each named after its file; none of Airflow's examples.
        ours = sorted(path.stem for path in (REPO / "dags").glob("cargo_risk_*.py"))
        assert sorted(d["dag_id"] for d in dags["dags"]) == ours  # type: ignore[attr-defined]
        assert "cargo_risk_nightly" in ours
        assert len(_processes_with(marker)) >= 4  # scheduler, dag processor, triggerer, API
    finally:
        cli.send_signal(signal.SIGINT)
        cli.wait(timeout=90)
        log.close()
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(1)
    assert _processes_with(marker) == []
