"""One night, stage by stage: what each Airflow task and `cargo-risk run` calls.

Every function takes the settings and the partition date and returns a small JSON-able summary
(XCom carries these, never frames). Each stage reads its input partition and replaces its output
partition whole, so a retry, a rerun or a backfill of a date gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import polars as pl

from pipelines import layout
from pipelines.io import write_parquet, write_text
from pipelines.settings import Settings, load_settings

log = logging.getLogger(__name__)

STAGES = ("ingest", "validate", "outcomes", "featurize", "score", "select", "publish")


def settings() -> Settings:
    """Settings for a task: built at the face, from the environment and CARGO_RISK_CONFIG."""
    return load_settings()


def _day(day: str | date) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def _stage_report(settings: Settings, day: date, stage: str, summary: dict[str, Any]) -> None:
    """Keep each stage's summary beside the run report, so the report needs no XCom."""
    target = layout.run_report_dir(settings, day) / f"{stage}.json"
    write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), target)


def _timed(stage: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def run(settings: Settings, day: str | date) -> dict[str, Any]:
            started = time.perf_counter()
            summary = fn(settings, _day(day))
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

    return ingest_landing(settings).as_dict()


@_timed("validate")
def validate(settings: Settings, day: date) -> dict[str, Any]:
    """Validate the raw partition of `day` into staging and quarantine, both replaced whole."""
    from pipelines.staging import stage_declarations

    return stage_declarations(settings, day)


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


@_timed("score")
def score(settings: Settings, day: date) -> dict[str, Any]:
    """Model scores, expert-rule hits and watch-list hits of the day, side by side."""
    from pipelines.score import score_day
    from pipelines.select import WATCHLIST_HITS_SCHEMA, evaluate_rules_day
    from pipelines.watchlists.screen import screen_day

    scores = pl.read_parquet(score_day(settings, day))
    rule_hits = pl.read_parquet(evaluate_rules_day(settings, day, settings.rules_dirs or None))
    watch_hits = screen_day(settings, day)
    write_parquet(
        watch_hits.select(list(WATCHLIST_HITS_SCHEMA)).sort(
            "declaration_id", "item_no", "entry_id"
        ),
        layout.scores_dir(settings, day) / layout.WATCHLIST_HITS_FILE,
    )
    return {
        "rows": scores.height,
        "model_version": scores["model_version"][0] if scores.height else None,
        "risk_score_p99": round(scores["risk_score"].quantile(0.99) or 0.0, 4),
        "rule_hits": rule_hits.height,
        "rules_fired": sorted(rule_hits["rule_id"].unique().to_list()),
        "watchlist_hits": watch_hits.height,
    }


def run_id_for(settings: Settings, day: date) -> str:
    """A run id that depends only on the inputs, so a rerun writes byte-identical lists."""
    scores = layout.scores_dir(settings, day)
    digest = hashlib.sha256()
    for path in sorted(scores.glob("*.parquet")):
        if path.name != layout.SELECTION_FILE:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return f"{day.isoformat()}-{digest.hexdigest()[:12]}"


@_timed("select")
def select(settings: Settings, day: date) -> dict[str, Any]:
    """Lanes and ranks per port within capacity; kept in the scores partition for publish."""
    from pipelines.select import select_day

    run_id = run_id_for(settings, day)
    selection = select_day(settings, day, run_id)
    target = layout.scores_dir(settings, day) / layout.SELECTION_FILE
    write_parquet(selection.ranked, target)
    return {
        "run_id": run_id,
        "rows": selection.ranked.height,
        "notes": selection.notes,
        "ports": {
            p.port: {"rows": p.rows, "red": p.red, "yellow": p.yellow, "green": p.green}
            for p in selection.ports
        },
    }


@_timed("publish")
def publish(settings: Settings, day: date) -> dict[str, Any]:
    """Write the ranked lists (Parquet, CSV, HTML per port) and the run report."""
    from pipelines.disparity import write_night_report
    from pipelines.publish import publish_lists
    from pipelines.report import write_run_report

    source = layout.scores_dir(settings, day) / layout.SELECTION_FILE
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no selection for {day}; run the select stage first")
    published = publish_lists(pl.read_parquet(source), layout.lists_table(settings), day)
    summary = published.summary()
    summary["disparity"] = str(write_night_report(settings, day))
    summary["report"] = str(write_run_report(settings, day))
    return summary


def run_night(settings: Settings, day: date) -> dict[str, dict[str, Any]]:
    """The whole night without Airflow, stage after stage, in the DAG's order."""
    return {
        "ingest": ingest(settings, day),
        "validate": validate(settings, day),
        "outcomes": import_outcomes(settings, day),
        "featurize": featurize(settings, day),
        "score": score(settings, day),
        "select": select(settings, day),
        "publish": publish(settings, day),
    }


def read_stage_reports(settings: Settings, day: date) -> dict[str, dict[str, Any]]:
    """The stage summaries written so far for a date."""
    folder = layout.run_report_dir(settings, day)
    return {
        stage: json.loads((folder / f"{stage}.json").read_text(encoding="utf-8"))
        for stage in STAGES
        if (folder / f"{stage}.json").is_file()
    }
