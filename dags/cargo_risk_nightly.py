"""
### cargo_risk_nightly

Turns one day's cargo declarations into ranked risk lists per port of discharge.

ingest (landing -> raw) -> validate (Great Expectations; quarantine) -> featurize (point-in-time
history) -> score (CBRN and SALW models, rules, watch lists) -> select (capacity, random quota,
lanes) -> publish (Parquet, CSV, HTML; the `cargo-risk://lists` asset) -> retention (partitions
past their time removed, each removal in the audit log).

The partition is the filing date. A scheduled run at 02:00 UTC processes the previous day; a manual
run or a backfill takes `{"date": "YYYY-MM-DD"}` in its conf. Every task reads and writes its own
partition atomically, so a retry or a rerun replaces it whole.

A stage that fails because of its data (no declarations for the date, a batch refused by its
contract) fails at once, without retries, so it does not hold the next run back; other failures
retry twice. Every task that fails for good is reported through Airflow's notifiers: a line in
`reports/notifications/failures.jsonl` under the data home, and an e-mail when the settings name
`failure_email`.

Beside the chain, new inspection outcomes (files in landing, and what the inspector app exported)
are imported after validation; when any arrived, the `cargo-risk://outcomes` asset is updated and
`cargo_risk_retrain` runs.

Partner agencies' signed alert bundles in `landing/alerts/` are imported before scoring (their
party alerts are screened, their indicators run as rules); after publishing, the findings of the
last days go out to each partner as a signed bundle in `outbox/alerts/<partner>/`
(docs/alerts.md).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from pipelines.airflow_tasks import fail_once_on_bad_data, failure_notifiers

RANKED_LISTS = Asset("cargo-risk://lists/ranked_list")
# Updated whenever validation imports outcomes; cargo_risk_retrain listens to it.
OUTCOMES = Asset("cargo-risk://outcomes")


@dag(
    dag_id="cargo_risk_nightly",
    description="One day's declarations -> validated, scored, ranked risk lists per port",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cargo-risk", "nightly"],
    doc_md=__doc__,
    params={"date": Param(None, type=["null", "string"], format="date")},
    default_args={
        "owner": "customs-data-team",
        "retries": 2,
        "retry_delay": pendulum.duration(minutes=5),
        "on_failure_callback": failure_notifiers(),
    },
)
def cargo_risk_nightly() -> None:
    @task
    def resolve_date(**context: Any) -> str:
        """The filing date this run processes: the conf's `date`, else the day before the logical
        date."""
        from pipelines.dates import resolve_partition_date

        requested = (context["dag_run"].conf or {}).get("date") or context["params"].get("date")
        return resolve_partition_date(requested, context.get("logical_date")).isoformat()

    @task
    def export_app_outcomes() -> str | None:
        """Writes what inspectors recorded in the app since the last export to landing/outcomes."""
        # The inspector app is a face like this DAG; its export is the one path its outcomes
        # take into landing/outcomes, which the validate task imports.
        from inspector.export import export_outcomes
        from pipelines import nightly

        written = export_outcomes(nightly.settings())
        return str(written) if written else None

    @task
    def ingest(day: str) -> dict[str, Any]:
        """Copies new landing files into raw, one partition per filing date; files seen before are
        skipped."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.ingest(nightly.settings(), day)

    @task
    def validate(day: str, ingested: dict[str, Any]) -> dict[str, Any]:
        """Checks the date's raw rows against the declarations contract (Great Expectations): good
        rows to staging, rejected rows to quarantine with their reason."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.validate(nightly.settings(), day)

    @task(trigger_rule="all_done")
    def data_docs(day: str) -> dict[str, Any]:
        """Great Expectations Data Docs of the date's batch, linked from the run report; runs even
        when validation stopped the night, since that is when someone will want to look."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.data_docs(nightly.settings(), day)

    @task(outlets=[OUTCOMES])
    def import_outcomes(
        day: str, validated: dict[str, Any], exported: str | None
    ) -> dict[str, Any]:
        """Imports new inspection outcomes; skipped when none arrived, so retraining is only
        triggered by new outcomes."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines import nightly

        summary = nightly.import_outcomes(nightly.settings(), day)
        if not any(summary["imported"].values()):
            # Skipped, so the outcomes asset is not updated and no retraining is triggered.
            raise AirflowSkipException("no new outcomes in landing")
        return summary

    @task
    def featurize(day: str, validated: dict[str, Any]) -> dict[str, Any]:
        """Point-in-time features: trader, route and commodity history as known the day before."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.featurize(nightly.settings(), day)

    @task
    def import_alerts(day: str) -> dict[str, Any]:
        """Imports partners' signed alert bundles from landing/alerts (refused ones to quarantine
        with their reason) and rebuilds the partner watch lists and rules as of the date."""
        from pipelines.alerts import nightly as alerts
        from pipelines.nightly import settings

        return alerts.import_landing_alerts(settings(), day)

    @task
    def score(day: str, featurized: dict[str, Any]) -> dict[str, Any]:
        """CBRN and SALW model scores, expert-rule hits and watch-list hits of the day."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.score(nightly.settings(), day)

    @task
    def select(day: str, scored: dict[str, Any]) -> dict[str, Any]:
        """Ranks each port's items, applies capacities and the random quota, sets lanes and
        reasons."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.select(nightly.settings(), day)

    @task(outlets=[RANKED_LISTS])
    def publish(day: str, selected: dict[str, Any]) -> dict[str, Any]:
        """Writes the ranked lists (Parquet, CSV, printable HTML) and the run report; updates the
        lists asset."""
        from pipelines import nightly

        with fail_once_on_bad_data():
            return nightly.publish(nightly.settings(), day)

    @task
    def retention(day: str, published: dict[str, Any]) -> dict[str, Any]:
        """Removes date partitions past their retention (settings), keeping what open cases and
        recent models need; each removal is recorded in the audit log as `system`."""
        from pipelines import nightly
        from pipelines.retention import night_retention

        return night_retention(nightly.settings(), day)

    @task
    def export_alerts(day: str, published: dict[str, Any]) -> dict[str, Any]:
        """Signs the findings of the last days for each partner, under its sharing policy, into
        outbox/alerts/<partner>/."""
        from pipelines.alerts import nightly as alerts
        from pipelines.nightly import settings

        return alerts.export_partner_alerts(settings(), day)

    day = resolve_date()
    ingested = ingest(day)
    validated = validate(day, ingested)
    # Ordered, not fed: a failed validation leaves no XCom, and Data Docs should still run.
    validated >> data_docs(day)
    import_outcomes(day, validated, export_app_outcomes())
    featurized = featurize(day, validated)
    scored = score(day, featurized)
    import_alerts(day) >> scored
    selected = select(day, scored)
    published = publish(day, selected)
    export_alerts(day, published)
    retention(day, published)


cargo_risk_nightly()
