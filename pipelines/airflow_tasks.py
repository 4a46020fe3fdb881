"""What the DAG files need from Airflow beyond calling a stage: running a row of the stage table,
failing fast on bad data, notifying.

Imported at DAG parse time, so it stays light: Airflow's SDK and the standard library only.

- A stage that fails because of its data (no declarations for the date, a batch refused by its
  contract, a missing file) fails once: a retry five minutes later reads the same data and fails
  the same way, while it keeps the next run waiting behind `max_active_runs`.
- Such a failure, and one the machine caused (disk full, a read-only zone), is logged as one line
  naming the cause and what to do; a bug keeps its traceback. Airflow's task runner logs every
  exception with its traceback except `SystemExit`, which it logs as one line ("Task exited"):
  so the operator's line travels as a `SystemExit` (`DataStop`), and the tasks' retry policy
  (`DATA_STOP_POLICY`) fails a fail-once stage's at once.
- A task that fails for good (after its retries) is reported through Airflow's notifier
  mechanism: always one JSON line in `reports/notifications/failures.jsonl` under the data home,
  and, when the settings name a `failure_email`, an e-mail through the SMTP provider's notifier
  (the `smtp_default` Airflow connection).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier
from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipelines.settings import load_settings
from pipelines.stages import by_name

log = logging.getLogger(__name__)

FAILURES_FILE = Path("notifications") / "failures.jsonl"
"""Under the reports zone."""


class DataStop(SystemExit):
    """A stage stopped by its data or its machine, not by a bug; the message is the operator's one
    line. Retried as the task's retries say."""


class DataStopAtOnce(DataStop):
    """A `DataStop` of a fail-once stage: `DATA_STOP_POLICY` fails the task without retries."""


DATA_STOP_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=f"{__name__}.DataStopAtOnce",
            action=RetryAction.FAIL,
            reason="stopped by its data: a retry would read the same data",
        )
    ]
)
"""The retry policy of every stage task (set in the DAG): fail-once data errors never retry."""


def _data_errors() -> tuple[type[BaseException], ...]:
    # Imported here: the stage modules pull in polars and friends, which DAG parsing must not.
    from contracts.reading import MalformedFileError
    from pipelines.staging import BatchError
    from pipelines.watchlists.screen import NoWatchlistError

    # No watch list in force: a retry finds none either. A run lock held elsewhere is not here:
    # a retry may find the other run finished.
    return (BatchError, NoWatchlistError, MalformedFileError, FileNotFoundError)


def _what_to_do(error: BaseException) -> str | None:
    """The advice a data error's own message lacks (a missing watch list and a missing file say
    it already)."""
    from contracts.reading import MalformedFileError
    from pipelines.staging import BatchError

    if isinstance(error, BatchError):
        return (
            "put the date's corrected or missing files in landing (the quarantine and the run "
            "report say what broke), then clear this task"
        )
    if isinstance(error, MalformedFileError):
        return "replace or remove the named file in landing, then clear this task"
    return None


def operator_line(error: BaseException) -> str | None:
    """One line for an error the data or the machine caused: the cause (path included) and what
    to do. None for anything else, which is a bug and keeps its traceback."""
    from pipelines.cli.common import HINTED_ERRNOS, one_line
    from pipelines.locks import RunLockedError

    if isinstance(error, _data_errors()):
        advice = _what_to_do(error)
        return one_line(error) + (f"; {advice}" if advice else "")
    # Another run holds the date (its message names it): retried, as a later try may find it done.
    if isinstance(error, RunLockedError) or (
        isinstance(error, OSError) and error.errno in HINTED_ERRNOS
    ):
        return one_line(error)
    return None


@contextmanager
def one_line_on_bad_data(fail_at_once: bool) -> Iterator[None]:
    """Log a data or machine error as one line and stop the task with it; a data error of a
    `fail_at_once` stage as `DataStopAtOnce` (no retry: the data stays the same), a machine error
    or a held lock as `DataStop` (retried: a later try may succeed). A bug propagates with its
    traceback."""
    try:
        yield
    except (AirflowFailException, AirflowSkipException):
        raise
    except Exception as error:
        line = operator_line(error)
        if line is None:
            raise
        message = f"{type(error).__name__}: {line}"
        log.error("cargo-risk: %s", message)
        at_once = fail_at_once and isinstance(error, _data_errors())
        raise (DataStopAtOnce if at_once else DataStop)(message) from None


def run_stage_task(
    name: str, day: str, port: str | None = None, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run the stage `name` of the table for `day` (for `port` when it runs per port) as an
    Airflow task; its summary for XCom. `options` are the run's (the DAG conf's `model`); the
    stage takes those its row names.

    `options` are the run's (the DAG conf's `model`); the stage takes those its row names. A data
    or machine error is logged as one line; a stage marked `fail_once` then fails without retries.
    One marked `skip_when_idle` is skipped when it did nothing, so its asset is not updated.
    """
    from datetime import date

    stage = by_name()[name]
    night = date.fromisoformat(day)
    with one_line_on_bad_data(fail_at_once=stage.fail_once):
        if stage.per_port:
            if port is None:
                raise AirflowFailException(f"{name} runs per port: no port given")
            summary = stage.run_port(load_settings(), night, port, options)
        else:
            summary = stage.run(load_settings(), night, options)
    if stage.skip_when_idle and summary.nothing_done():
        raise AirflowSkipException(f"{name}: nothing new")
    return summary.as_json()


def failure_record(context: dict[str, Any]) -> dict[str, Any]:
    """The facts of one failed task, from Airflow's callback context."""
    instance = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    error = context.get("exception")
    dag = context.get("dag")
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dag_id": getattr(dag, "dag_id", None) or getattr(instance, "dag_id", None),
        "task_id": getattr(instance, "task_id", None),
        "run_id": getattr(run, "run_id", None) or getattr(instance, "run_id", None),
        "try_number": getattr(instance, "try_number", None),
        "error": " ".join(str(error).split())[:500] if error is not None else None,
    }


class FailureFileNotifier(BaseNotifier):
    """Appends one JSON line per failed task to the data home's notifications file."""

    def __init__(self, home: Path | None = None) -> None:
        super().__init__()
        self.home = home

    def notify(self, context: Any) -> None:
        record = failure_record(dict(context))
        reports = self.home / "reports" if self.home else load_settings().zone("reports")
        target = reports / FAILURES_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")
        log.error("cargo-risk task failed: %s", record)


def failure_notifiers() -> list[BaseNotifier]:
    """The notifiers a DAG's tasks call when they fail for good."""
    notifiers: list[BaseNotifier] = [FailureFileNotifier()]
    address = load_settings().failure_email
    if address:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append(
            SmtpNotifier(
                to=address,
                subject="cargo-risk: {{ ti.dag_id }}.{{ ti.task_id }} failed for {{ run_id }}",
                html_content="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}",
            )
        )
    return notifiers
