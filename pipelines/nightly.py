"""One night, stage by stage: what each Airflow task and `cargo-risk run` calls.

Every function takes the settings and the partition date and returns a small JSON-able summary
(XCom carries these, never frames). Each stage reads its input partition and replaces its output
partition whole, so a retry, a rerun or a backfill of a date gives the same files.

Each stage holds its date's run lock (`pipelines.locks`; ingest also the ingest lock), so a
second run of the same date fails at once with a message instead of racing the first; on taking
the lock it clears what a killed run of that date left behind. Rows that arrive late (filed on
an earlier date, delivered in tonight's files) are staged into their own date by `validate`, and
`publish` republishes the lists of those dates, so no row that reached raw goes unassessed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines import layout
from pipelines.io import sweep_leftovers, write_parquet, write_text
from pipelines.locks import INGEST, date_lock_name, run_lock
from pipelines.settings import Settings, load_settings

if TYPE_CHECKING:
    from pipelines.stages import Summary

log = logging.getLogger(__name__)

STAGES = (
    "ingest",
    "validate",
    "data_docs",
    "outcomes",
    "featurize",
    "score",
    "rules",
    "screen",
    "select",
    "publish",
)
"""The stage reports a date's run report reads, in its order."""
DATED_TABLES = (
    layout.staged_declarations,
    layout.quarantine_declarations,
    layout.features_table,
    layout.scores_table,
    layout.lists_table,
    layout.run_reports,
    layout.snapshots,
)
"""Tables holding one partition per date, which a run of that date writes."""
STALE_SECONDS = 3600.0
"""A temporary file this old outside the locked date belongs to no live writer (a stage writes
each file in seconds)."""


def settings() -> Settings:
    """Settings for a task: built at the face, from the environment and CARGO_RISK_CONFIG."""
    return load_settings()


def _day(day: str | date) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def _stage_report(settings: Settings, day: date, stage: str, summary: dict[str, Any]) -> None:
    """Keep each stage's summary beside the run report, so the report needs no XCom."""
    target = layout.run_report_dir(settings, day) / f"{stage}.json"
    write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), target)


def sweep_date(settings: Settings, day: date) -> list[Path]:
    """Clear what a killed run left: all of `day`'s leftovers, and stale ones elsewhere.

    Called by the holder of `day`'s lock, so every temporary name of that date is dead.
    """
    removed: list[Path] = []
    name = layout.partition_name(day)
    for table in DATED_TABLES:
        folder = table(settings)
        removed += sweep_leftovers(folder / name)
        removed += sweep_leftovers(folder, f"{name}.*")
        removed += sweep_leftovers(folder, older_than=STALE_SECONDS)
    if removed:
        log.warning("cleared %d leftover(s) of a killed run: %s", len(removed), removed[:5])
    return removed


@contextmanager
def date_run(settings: Settings, day: date) -> Iterator[None]:
    """Hold `day`'s run lock; the first taker clears a killed run's leftovers."""
    with run_lock(settings, date_lock_name(day)) as taken:
        if taken:
            sweep_date(settings, day)
        yield


@contextmanager
def side_by_side_run(settings: Settings, day: date, stage: str) -> Iterator[None]:
    """Hold `day`'s run lock shared and the stage's own lock: for the stages that run side by
    side. No sweep: a sibling's files are being written; the next one-at-a-time stage sweeps."""
    name = date_lock_name(day)
    with run_lock(settings, name, shared=True), run_lock(settings, f"{name}.{stage}"):
        yield


def _timed(
    stage: str, *, side_by_side: bool = False
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def run(settings: Settings, day: str | date, **options: Any) -> dict[str, Any]:
            held = (
                side_by_side_run(settings, _day(day), stage)
                if side_by_side
                else date_run(settings, _day(day))
            )
            with held:
                started = time.perf_counter()
                summary = fn(settings, _day(day), **options)
                summary["seconds"] = round(time.perf_counter() - started, 3)
                _stage_report(settings, _day(day), stage, summary)
            log.info("%s %s: %s", stage, day, summary)
            return summary

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run

    return wrap


@_timed("ingest")
def ingest(settings: Settings, day: date) -> dict[str, Any]:
    """Load every new landing file into raw (files seen before are skipped by fingerprint)."""
    from pipelines.ingest import ingest_landing

    with run_lock(settings, INGEST) as taken:
        if taken:
            sweep_leftovers(layout.raw_declarations(settings))
            sweep_leftovers(settings.zone("landing"))
        return ingest_landing(settings, night=day).as_dict()


@_timed("validate")
def validate(settings: Settings, day: date) -> dict[str, Any]:
    """Validate the raw partition of `day` into staging and quarantine, both replaced whole.

    Rows of tonight's files filed on earlier dates (late declarations) are staged into their
    own dates too; `publish` then republishes those dates' lists.
    """
    from pipelines.featurize import drop_snapshots_after
    from pipelines.staging import BatchError, stage_declarations

    summary = stage_declarations(settings, day)
    late: dict[str, dict[str, Any]] = {}
    for earlier in late_dates(settings, day):
        with date_run(settings, earlier):
            try:
                done = stage_declarations(settings, earlier, check_volume=False)
            except BatchError as error:
                late[earlier.isoformat()] = {"error": str(error)}
                continue
            # The earlier date's own report now shows its staging with the late rows.
            _stage_report(settings, earlier, "validate", done)
        late[earlier.isoformat()] = {
            k: done[k] for k in ("rows_read", "rows_staged", "rows_rejected")
        }
    if late:
        # History snapshots after the earliest late date were built without its late rows.
        drop_snapshots_after(settings, min(date.fromisoformat(d) for d in late))
    summary["late"] = late
    return summary


def late_dates(settings: Settings, day: date) -> list[date]:
    """Dates before `day` that tonight's ingest gave rows (read from its stage report)."""
    report = layout.run_report_dir(settings, day) / "ingest.json"
    if not report.is_file():
        return []
    touched = json.loads(report.read_text(encoding="utf-8")).get("dates", [])
    return sorted(d for d in map(date.fromisoformat, touched) if d < day)


def data_docs(settings: Settings, day: str | date) -> dict[str, Any]:
    """Great Expectations Data Docs of the night's batch (a step apart from validation).

    Outside the date's run lock: it reads raw, writes only the GE project (`gx/`) and its own
    summary, and runs beside the night's other tasks, which would otherwise find the date taken.
    """
    from pipelines.data_docs import build_data_docs

    started = time.perf_counter()
    summary = build_data_docs(settings, _day(day))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    _stage_report(settings, _day(day), "data_docs", summary)
    log.info("data_docs %s: %s", day, summary)
    return summary


@_timed("outcomes")
def import_outcomes(settings: Settings, day: date) -> dict[str, Any]:
    """Import new outcome files from landing (after validation, so they can name today's
    declarations; the DAG's `export_app_outcomes` task has put the inspector app's there)."""
    from pipelines.outcomes import import_landing_outcomes

    return import_landing_outcomes(settings).as_dict()


@_timed("featurize")
def featurize(settings: Settings, day: date) -> dict[str, Any]:
    """Point-in-time features of the day's declarations."""
    from pipelines.featurize import featurize_day

    path = featurize_day(settings, day)
    return {"features": str(path), "rows": pl.scan_parquet(path).select(pl.len()).collect().item()}


@_timed("score", side_by_side=True)
def score(settings: Settings, day: date, model: str | None = None) -> dict[str, Any]:
    """Model scores of the day (pipelines/score.py).

    The model is `model` when named, else the one that scored the date's published list (a
    rerun of a past date keeps its model), else the champion.
    """
    from pipelines.lineage import recorded_model
    from pipelines.score import score_day

    recorded = None if model else recorded_model(settings, day)
    scores = pl.read_parquet(score_day(settings, day, model or recorded))
    return {
        "rows": scores.height,
        "model_version": scores["model_version"][0] if scores.height else None,
        "model_chosen_by": "asked"
        if model
        else "recorded for the date"
        if recorded
        else "champion",
        "risk_score_p99": round(scores["risk_score"].quantile(0.99) or 0.0, 4),
    }


@_timed("rules", side_by_side=True)
def rules(settings: Settings, day: date) -> dict[str, Any]:
    """Expert-rule hits of the day (pipelines/rules.py), beside the scores."""
    from pipelines.rules import evaluate_rules_day

    rule_hits = pl.read_parquet(evaluate_rules_day(settings, day, settings.rules_dirs or None))
    return {
        "rule_hits": rule_hits.height,
        "rules_fired": sorted(rule_hits["rule_id"].unique().to_list()),
    }


@_timed("screen", side_by_side=True)
def screen(settings: Settings, day: date) -> dict[str, Any]:
    """Watch-list hits of the day (pipelines/watchlists/screen.py), beside the scores."""
    from pipelines.watchlists.screen import screen_stage

    return screen_stage(settings, day)


@_timed("select")
def select(settings: Settings, day: date) -> dict[str, Any]:
    """Lanes and ranks per port within capacity; kept in the scores partition for publish."""
    from pipelines.ports import PENDING_RUN_ID, run_id_of, with_run_id
    from pipelines.select import record_selection

    selection, summary = record_selection(
        settings, day, PENDING_RUN_ID, layout.run_report_dir(settings, day)
    )
    # The run id is a digest of the lists themselves, as the per-port night (pipelines/ports.py)
    # computes it once every port is selected.
    run_id = run_id_of(day, selection.ranked)
    summary["run_id"] = run_id
    target = layout.scores_dir(settings, day) / layout.SELECTION_FILE
    write_parquet(with_run_id(selection.ranked, run_id), target)
    return summary


@_timed("publish")
def publish(settings: Settings, day: date) -> dict[str, Any]:
    """Write the ranked lists (Parquet, CSV, HTML per port) and the run report; then republish
    the earlier dates that tonight's late rows were staged into."""
    summary = _publish_lists(settings, day)
    summary["republished"] = republish_late(settings, day)
    summary["report"] = str(write_report(settings, day, summary))
    return summary


def _publish_lists(settings: Settings, day: date) -> dict[str, Any]:
    from pipelines.lineage import run_lineage
    from pipelines.publish import publish_lists

    source = layout.scores_dir(settings, day) / layout.SELECTION_FILE
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no selection for {day}; run the select stage first")
    # A scan: publish reads, checks and writes the lists a port at a time.
    ranked = pl.scan_parquet(source)
    runs, models = (
        ranked.select(pl.col(c).unique()).collect().to_series().to_list()
        for c in ("run_id", "model_version")
    )
    watchlists = read_stage_reports(settings, day).get("screen", {}).get("watchlists", {})
    lineage = run_lineage(settings, day, ", ".join(sorted(runs)), models, watchlists)
    published = publish_lists(ranked, layout.lists_table(settings), day, lineage)
    return published.summary()


def write_report(settings: Settings, day: date, publish_summary: dict[str, Any]) -> Path:
    """The run report, with this publish's summary in it (written before the report reads it)."""
    from pipelines.disparity import write_night_report
    from pipelines.report import write_run_report

    publish_summary["disparity"] = str(write_night_report(settings, day))
    _stage_report(settings, day, "publish", publish_summary)
    return write_run_report(settings, day)


@_timed("publish")
def _republish(settings: Settings, day: date) -> dict[str, Any]:
    """Publish an earlier date again (its late rows came tonight); no further late dates."""
    summary = _publish_lists(settings, day)
    summary["report"] = str(write_report(settings, day, summary))
    return summary


def republish_late(settings: Settings, day: date) -> dict[str, str]:
    """Assess again the earlier dates tonight's late rows were staged into; date -> outcome.

    A date whose lists were published before is featurized, scored, selected and published
    again, now with its late rows (the next night's history then includes them too). A date
    never published (history loaded by hand) is only staged: there is no list to correct.
    """
    validated = read_stage_reports(settings, day).get("validate", {})
    outcome: dict[str, str] = {}
    for day_text, staged in sorted(validated.get("late", {}).items()):
        earlier = date.fromisoformat(day_text)
        if "error" in staged:
            outcome[day_text] = f"not staged: {staged['error']}"
        elif not layout.lists_dir(settings, earlier).is_dir():
            outcome[day_text] = f"{staged['rows_staged']} rows staged; no list to republish"
        else:
            for stage in (featurize, score, rules, screen, select, _republish):
                stage(settings, earlier)
            outcome[day_text] = f"list republished with {staged['rows_staged']} rows staged"
    return outcome


def run_night(settings: Settings, day: date, model: str | None = None) -> dict[str, Summary]:
    """The whole night without Airflow: every stage of the table (pipelines/stages.py), in its
    order, which the DAG's dependencies allow; a `per_port` stage once per port, in turn
    (`model`: score with this model version instead of the date's recorded one or the champion)."""
    from pipelines.stages import NIGHTLY, PORTS_FROM, PlanSummary, PortsSummary, pick

    results: dict[str, Summary] = {}
    options = {"model": model}
    with date_run(settings, day):
        for stage in NIGHTLY:
            if stage.per_port:
                ports = pick(results, PORTS_FROM, PlanSummary).ports
                done = {port: stage.run_port(settings, day, port, options) for port in ports}
                results[stage.name] = PortsSummary(done)
            else:
                results[stage.name] = stage.run(settings, day, options)
    return results


WHOLE_DAY_STAGES = ("featurize", "score", "rules", "screen", "select")
"""The stages the per-port ones replace in the table, each over every port at once: what a
night did before per-port partitioning, kept for comparison (tests, benchmarks/nightly.py)."""


def run_night_whole_day(settings: Settings, day: date) -> dict[str, dict[str, Any]]:
    """The night with the whole-day stages in place of the per-port ones; stage -> summary."""
    from pipelines.stages import NIGHTLY

    results: dict[str, dict[str, Any]] = {}
    with date_run(settings, day):
        for stage in NIGHTLY:
            if stage.name == "plan_ports" or stage.per_port:
                continue
            if stage.name == "publish":
                for name in WHOLE_DAY_STAGES:
                    results[name] = globals()[name](settings, day)
                results[stage.name] = publish(settings, day)
            else:
                results[stage.name] = stage.run(settings, day).as_json()
    return results


def read_stage_reports(settings: Settings, day: date) -> dict[str, dict[str, Any]]:
    """The stage summaries written so far for a date."""
    folder = layout.run_report_dir(settings, day)
    return {
        stage: json.loads((folder / f"{stage}.json").read_text(encoding="utf-8"))
        for stage in STAGES
        if (folder / f"{stage}.json").is_file()
    }
