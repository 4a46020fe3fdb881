"""Which zones each nightly task reads and writes, as OpenLineage datasets for Airflow's provider.

The tasks are plain Python (`@task`), which the OpenLineage provider cannot look inside; it does
read a task's `inlets` and `outlets`, and passes OpenLineage `Dataset` objects through as they
are. So every task names the tables it reads and writes, and each task run's events carry them:
a data catalogue receiving the events can follow a declaration from landing to the published
list (decision 0027). Names are zone paths under the data home (`staging/declarations`), in the
`cargo-risk` namespace, so they do not change when the home moves.
"""

from __future__ import annotations

from typing import Any

from openlineage.client.event_v2 import Dataset

NAMESPACE = "cargo-risk"

TASK_ZONES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "export_app_outcomes": (("inspector",), ("landing/outcomes",)),
    "ingest": (("landing/declarations",), ("raw/declarations",)),
    "validate": (("raw/declarations",), ("staging/declarations", "quarantine/declarations")),
    "data_docs": (("raw/declarations",), ("gx",)),
    "import_outcomes": (("landing/outcomes",), ("staging/outcomes",)),
    "import_alerts": (("landing/alerts",), ("alerts",)),
    "plan_ports": (
        ("staging/declarations", "staging/outcomes", "watchlists", "alerts"),
        ("history/snapshots", "scores/night"),
    ),
    "assess_port": (
        ("staging/declarations", "history/snapshots", "models", "watchlists", "alerts"),
        ("features", "scores"),
    ),
    "publish": (("features", "scores"), ("features", "scores", "lists", "reports/runs")),
    "export_alerts": (("staging/outcomes",), ("outbox/alerts",)),
    # Reads what holds a partition (open cases, training windows); removes expired partitions.
    "retention": (
        ("lists", "staging/outcomes", "models"),
        (
            "raw/declarations",
            "quarantine/declarations",
            "staging/declarations",
            "staging/outcomes",
            "history/snapshots",
            "features",
            "scores",
            "lists",
            "reports/runs",
        ),
    ),
}
"""Task id -> (zones read, zones written)."""


def zone_dataset(name: str) -> Dataset:
    """The OpenLineage dataset of one zone table (e.g. `staging/declarations`)."""
    return Dataset(namespace=NAMESPACE, name=name)


def task_lineage(task_id: str, outlets: list[Any] | None = None) -> dict[str, list[Any]]:
    """`inlets` and `outlets` for `@task(...)`: the task's zones, plus any Airflow assets given."""
    read, written = TASK_ZONES[task_id]
    return {
        "inlets": [zone_dataset(name) for name in read],
        "outlets": [*(outlets or []), *(zone_dataset(name) for name in written)],
    }
