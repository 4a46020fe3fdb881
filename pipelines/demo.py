"""The demo: a quarter of synthetic trade, a trained model, and one night run by Airflow.

Every step is a stage a user could run by hand; the demo only strings them together:
simulate -> load the shipped watch lists -> ingest and validate the history -> import its
outcomes -> featurize the history -> train -> the nightly DAG for the last day, through Airflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from contracts.threats import THREATS, spoken_list
from models.registry import CARD_FILE
from pipelines import layout, nightly
from pipelines.airflow_run import migrate, run_dag_once
from pipelines.data_docs import index_path as data_docs_index
from pipelines.outcomes import import_outcome_files
from pipelines.report_html import HTML_FILE
from pipelines.settings import Settings
from pipelines.staging import ingest_and_stage
from pipelines.train import train_models
from pipelines.watchlists.shipped import load_shipped
from simulator.evaluate import evaluate_range
from simulator.report import build_report
from simulator.stage import simulate_world

DEMO_START = date(2026, 1, 1)


@dataclass
class DemoResult:
    """Where the demo left its outputs."""

    night: date
    model_folder: Path
    airflow_log: Path
    outputs: dict[str, Path] = field(default_factory=dict)


def run_demo(
    settings: Settings,
    *,
    days: int = 90,
    per_day: int = 2000,
    threat_rate: float = 0.01,
    step: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    """Run the whole demo on `settings.home`; `step` is told each step as it starts."""
    from datetime import UTC, datetime

    step(f"simulating {days} days of trade, about {per_day} items a day")
    world = simulate_world(settings, DEMO_START, days, per_day, threat_rate)
    simulation_report = build_report(settings)
    night = DEMO_START + timedelta(days=days - 1)
    step("loading the shipped watch lists (UN, OFAC, a national sample)")
    load_shipped(settings)
    history = [p for p in world.declaration_files if night.isoformat() not in p.name]
    step(f"ingesting and validating {len(history)} days of history")
    _, staged = ingest_and_stage(history, settings)
    for outcome in staged.values():
        if isinstance(outcome, Exception):
            raise outcome
    step("importing the inspection outcomes of the history")
    import_outcome_files(
        [p for p in world.outcome_files if night.isoformat() not in p.name], settings
    )
    step("computing point-in-time features for the history")
    for offset in range(days - 1):
        day = DEMO_START + timedelta(days=offset)
        if layout.partition(layout.staged_declarations(settings), day).exists():
            nightly.featurize(settings, day)
    step(f"training the {spoken_list(tuple(t.label for t in THREATS), 'and')} models")
    model_folder = train_models(settings, night - timedelta(days=1), datetime.now(UTC))
    step(f"running the nightly DAG for {night} through Airflow (airflow dags test)")
    migrate(settings)
    log = layout.run_report_dir(settings, night) / "airflow.log"
    run_dag_once(settings, "cargo_risk_nightly", night, log)
    step("evaluating the night against the planted threats (the pipeline never reads them)")
    evaluation = evaluate_range(settings, night, night).report
    lists = layout.lists_dir(settings, night)
    return DemoResult(
        night=night,
        model_folder=model_folder,
        airflow_log=log,
        outputs={
            "ranked lists (Parquet)": lists / layout.LIST_FILE,
            "ranked lists (CSV)": lists / layout.LIST_CSV_FILE,
            "printable lists (HTML, one per port)": lists / "html",
            "quarantine (rejected rows with reasons)": settings.zone("quarantine") / "declarations",
            "run report (HTML with plots)": layout.run_report_dir(settings, night) / HTML_FILE,
            "run report (Markdown, for logs)": layout.run_report_dir(settings, night) / "report.md",
            "Data Docs (Great Expectations)": data_docs_index(settings),
            "evaluation against the planted threats": evaluation,
            "Airflow log of the run": log,
            "model version": model_folder,
            "model card": model_folder / CARD_FILE,
            "simulation report (plots of the synthetic trade)": simulation_report.index,
            "ground truth (never read by the pipeline)": settings.zone("truth"),
        },
    )


def top_of_busiest_port(settings: Settings, night: date, rows: int = 10) -> pl.DataFrame:
    """The first rows of the list of the port with the most items that night."""
    ranked = pl.read_parquet(layout.lists_dir(settings, night) / layout.LIST_FILE)
    port = (
        ranked.group_by("port_of_discharge")
        .len()
        .sort("len", "port_of_discharge", descending=[True, False])
    )["port_of_discharge"][0]
    return (
        ranked.filter(pl.col("port_of_discharge") == port)
        .sort("rank")
        .head(rows)
        .select(
            "port_of_discharge",
            "rank",
            "declaration_id",
            "item_no",
            "risk_score",
            "lane",
            "selection_reason",
            "reasons",
        )
    )


DETECTION_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "detection.md"
"""The cross-world harness's last results, kept in the repository (`benchmarks.detection`)."""
FRESH_RESULTS = (
    DETECTION_RESULTS.with_name("detection-fresh-held-out.md"),
    DETECTION_RESULTS.with_name("detection-second-fresh.md"),
    DETECTION_RESULTS.with_name("detection-third-fresh.md"),
)
"""The same harness on the fresh held-out sets (`benchmarks.detection --set fresh-held-out`,
`--set second-fresh`, `--set third-fresh`), each measured once with the code of its day."""


def _held_out_rows(results: Path) -> tuple[str, list[str], list[str]] | None:
    """(planted threats, the list's recall at 1/2/5 %, the plain baseline's) from a results file's
    held-out rows; None when the file or those rows are missing."""
    if not results.is_file():
        return None
    cells: dict[str, tuple[str, list[str]]] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        parts = [part.strip() for part in line.strip().strip("|").split("|")]
        if len(parts) == 6 and parts[0] == "held_out" and parts[1] not in cells:
            # "0.87 (0.182)": the recall, without the precision in brackets.
            cells[parts[1]] = (parts[2], [cell.split(" ")[0] for cell in parts[3:]])
    if "rank" not in cells or "baseline" not in cells:
        return None
    planted, rank = cells["rank"]
    return planted, rank, cells["baseline"][1]


def held_out_line(
    results: Path = DETECTION_RESULTS, fresh: Sequence[Path] = FRESH_RESULTS
) -> str | None:
    """A sentence with the list's order and the plain baseline on the held-out world families,
    read from the harness's results, and one more for each fresh held-out set whose results are
    there; None when the standard results or their rows are missing."""
    standard = _held_out_rows(results)
    if standard is None:
        return None
    planted, rank, baseline = standard
    line = (
        f"This demo's world is the kind the models were tuned on, so its figures read high. On "
        f"world families held out from tuning ({planted} planted threats, "
        f"{results.relative_to(results.parents[2])}), the list's order finds "
        f"{' / '.join(rank)} of them at 1 / 2 / 5 %, a plain LightGBM {' / '.join(baseline)}."
    )
    for path in fresh:
        clean = _held_out_rows(path)
        if clean is not None:
            planted, rank, baseline = clean
            line += (
                f" On fresh held-out worlds no choice was made on ({planted} planted threats, "
                f"{path.relative_to(path.parents[2])}): {' / '.join(rank)}, a plain LightGBM "
                f"{' / '.join(baseline)}."
            )
    return line
