"""The stage table (pipelines/stages.py): one list the DAG and `cargo-risk run` are both built from.

The DAG side is checked in tests/test_dags.py (its task graph equals the table's) and the run side
on a simulated night in tests/test_nightly_e2e.py (run returns a summary for every row, in order).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.locks import RunLockedError, date_lock_name, run_lock
from pipelines.settings import Settings, load_settings
from pipelines.stages import (
    NIGHTLY,
    PORTS_FROM,
    PlanSummary,
    PublishSummary,
    ScoreSummary,
    Stage,
    Summary,
    _check_order,
    by_name,
)

ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_function_exists_and_the_table_is_in_dependency_order() -> None:
    for stage in NIGHTLY:
        assert callable(stage.resolve()), stage.name
        assert stage.doc, stage.name
    _check_order(NIGHTLY)  # raises when a stage comes before what it needs
    swapped = (NIGHTLY[0], NIGHTLY[2], NIGHTLY[1], *NIGHTLY[3:])  # validate before ingest
    with pytest.raises(ValueError, match="validate listed before"):
        _check_order(swapped)


def test_only_the_port_stage_is_per_port_and_it_waits_for_the_plan() -> None:
    stages = by_name()
    assert [s.name for s in NIGHTLY if s.per_port] == ["assess_port"]
    assert stages["assess_port"].needs == (PORTS_FROM,)
    assert {"validate", "import_alerts"} <= set(stages[PORTS_FROM].needs)
    assert stages["publish"].needs == ("assess_port",)


def test_the_night_includes_what_the_cli_once_skipped() -> None:
    names = [stage.name for stage in NIGHTLY]
    for missed in ("export_app_outcomes", "import_alerts", "export_alerts"):
        assert missed in names


def test_a_summary_refuses_a_key_it_does_not_declare() -> None:
    found = {
        "rows": 3,
        "model_version": "v1",
        "risk_score_p99": 0.9,
        "model_chosen_by": "asked",
        "seconds": 0.1,
    }
    assert ScoreSummary.from_dict(found).as_json() == found
    with pytest.raises(TypeError, match=r"undeclared summary key.*surprise"):
        ScoreSummary.from_dict({**found, "surprise": 1})
    published = PublishSummary.from_dict(
        {
            "date": "2026-01-21",
            "partition": "p",
            "rows": 9,
            "ports": 2,
            "lane_red": 4,
            "republished": {},
            "report": "r.md",
        }
    )
    assert published.lane("red") == 4 and published.lane("yellow") == 0


def test_the_dag_file_takes_its_tasks_from_the_table_only() -> None:
    """No stage is called by hand in the DAG file: its only task besides the table's is the date."""
    tree = ast.parse((ROOT / "dags" / "cargo_risk_nightly.py").read_text(encoding="utf-8"))
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert functions == {"stage_task", "run", "cargo_risk_nightly", "resolve_date"}


def test_run_calls_every_row_of_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run_night` goes down the table: each row's function, in order, for the date; a per-port
    row once for each port the plan found."""

    from pipelines import nightly, stages

    called: list[str] = []
    given: list[Any] = []

    def recording(
        stage: Stage, settings: Settings, day: date, options: Mapping[str, Any] | None = None
    ) -> Summary:
        # Only the stage's own work is replaced (it needs a whole data home); the order is real.
        called.append(stage.name)
        given.append(options)
        if stage.name == PORTS_FROM:
            return PlanSummary(ports=["BEANR", "NLRTM"], rows=2, rows_per_port={}, watchlists={})
        return ScoreSummary(rows=0, model_version=None, risk_score_p99=0.0)

    def recording_port(
        stage: Stage,
        settings: Settings,
        day: date,
        port: str,
        options: Mapping[str, Any] | None = None,
    ) -> Summary:
        called.append(f"{stage.name} {port}")
        given.append(options)
        return ScoreSummary(rows=0, model_version=None, risk_score_p99=0.0)

    monkeypatch.setattr(stages.Stage, "run", recording)
    monkeypatch.setattr(stages.Stage, "run_port", recording_port)
    settings = load_settings(environ={}, home=tmp_path)
    result = nightly.run_night(settings, date(2026, 1, 21), model="cbrn-v9")
    expected = []
    for stage in NIGHTLY:
        expected += (
            [f"{stage.name} {p}" for p in ("BEANR", "NLRTM")] if stage.per_port else [stage.name]
        )
    assert called == expected
    assert list(result) == [stage.name for stage in NIGHTLY]
    # Every call gets the run's options; each row keeps only those it names (next test).
    assert given == [{"model": "cbrn-v9"}] * len(called)


def test_a_stage_takes_only_the_run_options_its_row_names() -> None:
    """`run --model` reaches assess_port (its row names `model`) and no other stage; unset is not
    sent."""
    assert [stage.name for stage in NIGHTLY if "model" in stage.options] == ["assess_port"]
    seen: list[dict[str, Any]] = []

    def work(settings: Settings, day: date, **options: Any) -> dict[str, Any]:
        seen.append(options)
        return {"rows": 0, "model_version": options.get("model"), "risk_score_p99": 0.0}

    module = types.ModuleType("stage_options_probe")
    module.work = work  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        pinned = Stage(
            "probe", f"{module.__name__}:work", (), ScoreSummary, "d", options=("model",)
        )
        plain = Stage("plain", f"{module.__name__}:work", (), ScoreSummary, "d")
        settings = load_settings(environ={}, home=Path("/nonexistent"))
        day = date(2026, 1, 21)
        summary = pinned.run(settings, day, {"model": "cbrn-v9", "other": 1})
        assert isinstance(summary, ScoreSummary) and summary.model_version == "cbrn-v9"
        plain.run(settings, day, {"model": "cbrn-v9"})
        pinned.run(settings, day, {"model": None})
        assert seen == [{"model": "cbrn-v9"}, {}, {}]
    finally:
        del sys.modules[module.__name__]


HOLD_SHARED = """
import sys, time
from pathlib import Path
from pipelines.locks import run_lock
from pipelines.settings import load_settings
with run_lock(load_settings(environ={}, home=Path(sys.argv[1])), sys.argv[2], shared=True):
    print("held", flush=True)
    time.sleep(60)
"""


def test_stages_side_by_side_share_the_date_lock_but_a_whole_run_waits(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    name = date_lock_name(date(2026, 1, 21))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SHARED, str(tmp_path), name], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with run_lock(settings, name, shared=True) as taken:
            assert taken  # a sibling stage runs beside it
        with pytest.raises(RunLockedError), run_lock(settings, name):
            pass  # a whole run (or select) of the date does not
    finally:
        holder.kill()
        holder.communicate()


def test_train_challenger_from_the_cli_is_the_retrain_dags_step(tmp_path: Path) -> None:
    """`train --challenger` calls lifecycle.train_challenger: the first version, with no champion
    to gate against, becomes champion (as in the retrain DAG); the next is left for the gate."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.lifecycle import current_champion
    from tests.factories.model_world import LAST_TRAIN_DAY, home_world, registry_frame, write_home

    world = home_world()
    home = write_home(tmp_path, registry_frame(world), world.outcomes)
    command = ["--home", str(home.home), "train", "--challenger"]
    runner = CliRunner()
    first = runner.invoke(app, [*command, "--until", LAST_TRAIN_DAY.isoformat()])
    assert first.exit_code == 0, first.output
    champion = current_champion(home)
    assert champion is not None and "it is champion" in first.output
    earlier = (LAST_TRAIN_DAY - timedelta(days=1)).isoformat()
    second = runner.invoke(app, [*command, "--until", earlier])
    assert second.exit_code == 0, second.output
    assert current_champion(home) == champion and "a challenger" in second.output


def test_every_stage_names_the_zones_it_reads_and_writes_for_openlineage() -> None:
    """The DAG gives each task its zones as inlets/outlets; a row without them would fail parsing,
    and retention's outlets are the tables it may remove partitions from."""
    from pipelines.airflow_lineage import TASK_ZONES
    from pipelines.settings import RETENTION_DAYS

    assert set(TASK_ZONES) == {stage.name for stage in NIGHTLY}
    assert set(TASK_ZONES["retention"][1]) == set(RETENTION_DAYS)
