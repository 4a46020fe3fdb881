"""
### cargo_risk_retrain

Retrains the CBRN and SALW models and decides, through the champion/challenger gate, whether the
new version replaces the champion.

train_challenger (everything featurized and inspected up to the date; trees, early stopping and
calibration each on their own time window) -> decide (evaluate both on the challenger's gate
window, the latest dates, which its training and calibration never saw; promote only when
precision at the budget is not worse within its bootstrap interval and calibration holds; the
decision is appended to `models/decisions.jsonl`) -> card (the version's HTML model card).

Runs weekly (Mondays 04:00 UTC) and whenever new outcomes land (the `cargo-risk://outcomes`
asset). A manual run takes `{"date": "YYYY-MM-DD"}`, the last filing date to learn from; without
it, the latest featurized date is used (asset-triggered runs have no logical date).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from pipelines.airflow_tasks import failure_notifiers

NEW_OUTCOMES = Asset("cargo-risk://outcomes")


@dag(
    dag_id="cargo_risk_retrain",
    description="Retrain the threat models and promote the challenger only if the gate allows",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 4 * * 1", timezone="UTC"), assets=NEW_OUTCOMES
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cargo-risk", "models"],
    doc_md=__doc__,
    params={"date": Param(None, type=["null", "string"], format="date")},
    default_args={
        "owner": "data-science",
        "retries": 1,
        "retry_delay": pendulum.duration(minutes=10),
        "on_failure_callback": failure_notifiers(),
    },
)
def cargo_risk_retrain() -> None:
    @task
    def train_challenger(**context: Any) -> str:
        """Trains a new model version on everything featurized and inspected up to the date."""
        from datetime import UTC, date, datetime

        from pipelines import lifecycle, nightly

        settings = nightly.settings()
        requested = (context["dag_run"].conf or {}).get("date") or context["params"].get("date")
        until = (
            date.fromisoformat(requested)
            if requested
            else lifecycle.latest_featurized_day(settings)
        )
        return lifecycle.train_challenger(settings, until, datetime.now(UTC))

    @task
    def decide(version: str) -> dict[str, Any]:
        """Champion/challenger gate; the decision is appended to models/decisions.jsonl."""
        from datetime import UTC, datetime

        from pipelines import lifecycle, nightly

        return lifecycle.promote(nightly.settings(), version, datetime.now(UTC))

    @task
    def card(version: str, decision: dict[str, Any]) -> str:
        """Writes the version's HTML model card."""
        from pipelines import lifecycle, nightly

        return str(lifecycle.write_card(nightly.settings(), version))

    version = train_challenger()
    card(version, decide(version))


cargo_risk_retrain()
