"""
### cargo_risk_nightly

Turns one day's cargo declarations into ranked risk lists per port of discharge.

ingest (landing -> raw) -> validate (Great Expectations; quarantine) -> plan_ports (history to the
date, the night's screening weights and precision, the ports of the day) -> assess_port, mapped
over the ports (per port: point-in-time features, CBRN and SALW scores, rules, watch lists, then
capacity, random quota and lanes) -> publish (Parquet, CSV, HTML; the `cargo-risk://lists` asset)
-> retention (partitions past their time removed, each removal in the audit log).

The tasks are the rows of `pipelines/stages.py`, the table `cargo-risk run` runs too. The partition
is the filing date. A scheduled run at 02:00 UTC processes the previous day; a manual
run or a backfill takes `{"date": "YYYY-MM-DD"}` in its conf, and `{"model": "VERSION"}` to score
with a named model (otherwise a rerun of a date keeps the model recorded in its list's lineage).
Every task reads and writes its own partition atomically, so a retry or a rerun replaces it whole.

A stage that fails because of its data (no declarations for the date, a batch refused by its
contract) fails at once, without retries, so it does not hold the next run back, and its log says
why in one line with what to do; other failures retry twice, a bug with its traceback. Every task
that fails for good is reported through Airflow's notifiers: a line in
`reports/notifications/failures.jsonl` under the data home, and an e-mail when the settings name
`failure_email`.

Beside the chain, new inspection outcomes (files in landing, and what the inspector app exported)
are imported after validation; when any arrived, the `cargo-risk://outcomes` asset is updated and
`cargo_risk_retrain` runs.

Partner agencies' signed alert bundles in `landing/alerts/` are imported before scoring (their
party alerts are screened, their indicators run as rules); after publishing, the findings of the
last days go out to each partner as a signed bundle in `outbox/alerts/<partner>/`
(docs/alerts.md).

Each task names the zones it reads and writes as inlets and outlets, so Airflow's OpenLineage
provider, when a transport is configured (`[openlineage] transport`), sends events a data
catalogue can follow from landing to the lists (pipelines/airflow_lineage.py).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from pipelines.airflow_lineage import task_lineage
from pipelines.airflow_tasks import DATA_STOP_POLICY, failure_notifiers
from pipelines.stages import NIGHTLY, PORTS_FROM, Stage

# The tasks are the rows of pipelines/stages.py, which `cargo-risk run` runs too; this file only
# turns each row into a task and each `needs` into an edge.


def stage_task(stage: Stage) -> Any:
    """The Airflow task of one row of the stage table."""
    outlets = [Asset(stage.outlet)] if stage.outlet else []
    # Airflow maps only over a task's return value: the stage that lists the ports returns the
    # list (its whole summary is in its stage report and log).
    lists_ports = stage.name == PORTS_FROM

    @task(
        task_id=stage.name,
        doc_md=stage.doc,
        trigger_rule=stage.trigger_rule,
        retry_policy=DATA_STOP_POLICY,
        **task_lineage(stage.name, outlets),
    )
    def run(day: str, port: str | None = None, **context: Any) -> Any:
        from pipelines.airflow_tasks import run_stage_task

        conf = context["dag_run"].conf or {}
        options = {k: conf.get(k) or context["params"].get(k) for k in stage.options}
        summary = run_stage_task(stage.name, day, port, options)
        return summary["ports"] if lists_ports else summary

    return run


@dag(
    dag_id="cargo_risk_nightly",
    description="One day's declarations -> validated, scored, ranked risk lists per port",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cargo-risk", "nightly"],
    doc_md=__doc__,
    params={
        "date": Param(None, type=["null", "string"], format="date"),
        "model": Param(None, type=["null", "string"]),
    },
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

    day = resolve_date()
    tasks: dict[str, Any] = {}
    for stage in NIGHTLY:
        if stage.per_port:
            # Dynamic task mapping: one task instance per port the plan found.
            ports = tasks[PORTS_FROM]
            tasks[stage.name] = stage_task(stage).partial(day=day).expand(port=ports)
        else:
            tasks[stage.name] = stage_task(stage)(day)
        for need in stage.needs:
            tasks[need] >> tasks[stage.name]


cargo_risk_nightly()
