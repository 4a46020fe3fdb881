"""DAG integrity: every DAG file imports cleanly and cheaply, with the settings operators need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.airflow_support import airflow_env, run_python

# Each check starts Airflow in a fresh interpreter: about 20 s (decision 0017).
pytestmark = pytest.mark.slow

HEAVY = ("polars", "duckdb", "lightgbm", "great_expectations", "pandas", "sklearn")

INSPECT_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
bag = DagBag(dag_folder={folder!r})
loaded = sorted({{m.split('.')[0] for m in set(sys.modules) - before}})
dags = {{
    dag_id: {{
        "tags": sorted(dag.tags),
        "retries": [t.retries for t in dag.tasks],
        "tasks": [t.task_id for t in dag.tasks],
        "upstream": {{t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}},
        "catchup": dag.catchup,
        "doc": bool(dag.doc_md),
        "description": dag.description,
        "owners": sorted({{t.owner for t in dag.tasks}}),
        "task_docs": [t.task_id for t in dag.tasks if not t.doc_md],
        "no_retry_policy": sorted(t.task_id for t in dag.tasks if t.retry_policy is None),
        "notifiers": sorted({{type(n).__name__ for t in dag.tasks
                              for n in (t.on_failure_callback or [])}}),
    }}
    for dag_id, dag in bag.dags.items()
}}
print("RESULT" + json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                              "modules": loaded, "dags": dags}}))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    home = tmp_path_factory.mktemp("airflow")
    folder = str(Path(__file__).resolve().parents[1] / "dags")
    done = run_python(INSPECT_DAGS.format(folder=folder), airflow_env(home))
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, done.stderr[-3000:]
    result: dict[str, object] = json.loads(line[len("RESULT") :])
    return result


def test_dag_files_import_without_errors(dagbag: dict[str, object]) -> None:
    assert dagbag["errors"] == {}
    assert "cargo_risk_nightly" in dagbag["dags"]  # type: ignore[operator]


def test_parsing_dags_imports_no_heavy_library(dagbag: dict[str, object]) -> None:
    heavy = [m for m in dagbag["modules"] if m in HEAVY]  # type: ignore[attr-defined]
    assert heavy == []


def test_every_dag_has_tags_docs_and_retries(dagbag: dict[str, object]) -> None:
    dags: dict[str, dict[str, object]] = dagbag["dags"]  # type: ignore[assignment]
    for dag_id, info in dags.items():
        assert info["tags"], dag_id
        assert info["doc"], dag_id
        assert all(r >= 1 for r in info["retries"]), dag_id  # type: ignore[attr-defined]
        assert info["description"], dag_id
        assert info["owners"] and "airflow" not in info["owners"], dag_id  # type: ignore[operator]
        assert info["task_docs"] == [], dag_id


def test_every_task_reports_its_failure_through_the_notifier(dagbag: dict[str, object]) -> None:
    dags: dict[str, dict[str, object]] = dagbag["dags"]  # type: ignore[assignment]
    for dag_id, info in dags.items():
        assert "FailureFileNotifier" in info["notifiers"], dag_id  # type: ignore[operator]


def test_every_nightly_stage_fails_at_once_on_bad_data(dagbag: dict[str, object]) -> None:
    dags: dict[str, dict[str, object]] = dagbag["dags"]  # type: ignore[assignment]
    assert dags["cargo_risk_nightly"]["no_retry_policy"] == ["resolve_date"]


def test_nightly_runs_the_stages_in_order(dagbag: dict[str, object]) -> None:
    """The DAG's task graph is the stage table's (pipelines/stages.py), which `run` also runs."""
    from pipelines.stages import NIGHTLY

    upstream = dagbag["dags"]["cargo_risk_nightly"]["upstream"]  # type: ignore[index]
    assert upstream == {
        "resolve_date": [],
        **{stage.name: sorted({"resolve_date", *stage.needs}) for stage in NIGHTLY},
    }
    # Written out once, so a change to the table shows here too.
    assert upstream["assess_port"] == ["plan_ports", "resolve_date"]
    assert upstream["publish"] == ["assess_port", "resolve_date"]
    assert upstream["import_outcomes"] == ["export_app_outcomes", "resolve_date", "validate"]
    assert upstream["retention"] == ["publish", "resolve_date"]


def test_retrain_trains_then_decides_then_writes_the_card(dagbag: dict[str, object]) -> None:
    upstream = dagbag["dags"]["cargo_risk_retrain"]["upstream"]  # type: ignore[index]
    assert upstream == {
        "train_challenger": [],
        "decide": ["train_challenger"],
        "card": ["decide", "train_challenger"],
    }


def test_intraday_assesses_landed_files_then_hands_over(dagbag: dict[str, object]) -> None:
    upstream = dagbag["dags"]["cargo_risk_intraday"]["upstream"]  # type: ignore[index]
    assert upstream == {"assess_landed": [], "hand_over": ["assess_landed"]}
