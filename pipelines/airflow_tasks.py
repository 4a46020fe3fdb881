"""What the DAG files need from Airflow beyond calling a stage: running a row of the stage table,
failing fast on bad data, notifying.

Imported at DAG parse time, so it stays light: Airflow's SDK and the standard library only.

- A stage that fails because of its data (no declarations for the date, a batch refused by its
  contract, a missing file) fails once: a retry five minutes later reads the same data and fails
  the same way, while it keeps the next run waiting behind `max_active_runs`.
- A task that fails for good (after its retries) is reported through Airflow's notifier
  mechanism: always one JSON line in `reports/notifications/failures.jsonl` under the data home,
  and, when the settings name a `failure_email`, an e-mail through the SMTP provider's notifier
  (the `smtp_default` Airflow connection).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipelines.settings import load_settings
from pipelines.stages import by_name

log = logging.getLogger(__name__)

FAILURES_FILE = Path("notifications") / "failures.jsonl"
"""Under the reports zone."""


def _data_errors() -> tuple[type[BaseException], ...]:
    # Imported here: the stage modules pull in polars and friends, which DAG parsing must not.
    from contracts.reading import MalformedFileError
    from pipelines.staging import BatchError
    from pipelines.watchlists.screen import NoWatchlistError

    # No watch list in force: a retry finds none either. A run lock held elsewhere is not here:
    # a retry may find the other run finished.
    return (BatchError, NoWatchlistError, MalformedFileError, FileNotFoundError)


@contextmanager
def fail_once_on_bad_data() -> Iterator[None]:
    """Turn a data error into AirflowFailException (no retries); other errors retry as set."""
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as error:
        if isinstance(error, _data_errors()):
            raise AirflowFailException(f"{type(error).__name__}: {error}") from error
        raise


def run_stage_task(name: str, day: str, port: str | None = None) -> dict[str, Any]:
    """Run the stage `name` of the table for `day` (for `port` when it runs per port) as an
    Airflow task; its summary for XCom.

    A stage marked `fail_once` turns a data error into a failure without retries; one marked
    `skip_when_idle` is skipped when it did nothing, so its asset is not updated.
    """
    from datetime import date

    stage = by_name()[name]
    night = date.fromisoformat(day)
    with fail_once_on_bad_data() if stage.fail_once else _as_is():
        if stage.per_port:
            if port is None:
                raise AirflowFailException(f"{name} runs per port: no port given")
            summary = stage.run_port(load_settings(), night, port)
        else:
            summary = stage.run(load_settings(), night)
    if stage.skip_when_idle and summary.nothing_done():
        raise AirflowSkipException(f"{name}: nothing new")
    return summary.as_json()


@contextmanager
def _as_is() -> Iterator[None]:
    yield


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
