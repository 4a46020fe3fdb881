"""
### cargo_risk_intraday

Pre-loading assessment for administrations that receive batches rather than calls: every hour,
the declaration files landed since the last run are assessed through the same path as the
`POST /v1/assessments` service (contract validation, point-in-time features, both compiled models,
rules and watch lists), their answers stored in the assessments zone and audited, and their
rejected rows recorded. Files already assessed (by content) are skipped, so a retry or an early
rerun assesses nothing twice.

Then the rows the service accepted for today and yesterday are handed to the night: written to
landing as `assessed-<date>.jsonl` (replaced whole), so the night's list includes declarations
that only reached the service.

The landed files are left where they are: the night ingests them as usual. See docs/assess.md.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from pipelines.airflow_tasks import failure_notifiers


@dag(
    dag_id="cargo_risk_intraday",
    description="Landed declaration files -> pre-loading assessments, hourly",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cargo-risk", "intraday", "assess"],
    doc_md=__doc__,
    default_args={
        "owner": "customs-data-team",
        "retries": 2,
        "retry_delay": pendulum.duration(minutes=2),
        "on_failure_callback": failure_notifiers(),
    },
)
def cargo_risk_intraday() -> None:
    @task
    def assess_landed() -> dict[str, Any]:
        """Assesses every landed declaration file not assessed before."""
        from pipelines import nightly
        from pipelines.assess.intraday import assess_landed as run

        return run(nightly.settings())

    @task
    def hand_over(**context: Any) -> dict[str, Any]:
        """Lands the rows the service accepted today and yesterday, for the night to ingest."""
        from pipelines import nightly
        from pipelines.assess.intraday import hand_over as run

        return run(nightly.settings(), context.get("logical_date"))

    assess_landed() >> hand_over()


cargo_risk_intraday()
