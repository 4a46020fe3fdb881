"""Great Expectations Data Docs of a night: the declarations suite's results as a browsable site.

Validation itself (pipelines/staging.py) runs GE in an ephemeral context on the distinct values
of each column, which is fast but leaves nothing to browse. This step runs after it, apart: it
validates the night's whole raw batch (staged and quarantined rows alike, cast to the contract)
against the same suite through a checkpoint of a file-based context under the data home, whose
UpdateDataDocs action rebuilds the site. Grain: one validation result per filing date (a rerun
replaces nothing, it adds a run; the site lists them all).

Offline the site renders unstyled: GE's HTML pulls its CSS and JavaScript from CDNs.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.settings import Settings

CONTEXT_DIR = "gx"
"""Where the file-based GE context lives under the data home (GE names the folder itself)."""
SITE = "local_site"
NAME = "cargo_risk_declarations"
RESULT_FORMAT = {"result_format": "SUMMARY"}
"""SUMMARY, not COMPLETE: the site shows counts and examples; row-level failures are in
quarantine already, and COMPLETE costs seconds per 10,000 failing rows."""


def context_root(settings: Settings) -> Path:
    """The folder that holds the GE project (`gx/`)."""
    return settings.home


def index_path(settings: Settings) -> Path:
    """The Data Docs site's front page."""
    return context_root(settings) / CONTEXT_DIR / "uncommitted" / "data_docs" / SITE / "index.html"


def _night_batch(settings: Settings, day: date) -> tuple[pl.DataFrame, Any]:
    """The raw rows of `day` typed to the contract with the suite's helper columns, and the
    suite validation used (same reference sets, same clock)."""
    from contracts.declarations import DECLARATIONS
    from contracts.reading import cast_to_contract
    from expectations.declarations import declarations_suite
    from expectations.runner import prepare
    from pipelines.ingest import raw_partition
    from pipelines.validate import reference_sets

    raw = raw_partition(settings, day)
    if raw is None:
        raise FileNotFoundError(f"no declarations filed on {day} reached raw: no Data Docs")
    now: datetime = raw["_ingested_at"].max()  # type: ignore[assignment]
    suite = declarations_suite(
        reference_sets(settings), now, timedelta(days=settings.future_tolerance_days)
    )
    typed, _ = cast_to_contract(raw, DECLARATIONS)
    return prepare(typed, suite), suite


def build_data_docs(settings: Settings, day: date) -> dict[str, Any]:
    """Validate the night's batch through the checkpoint and rebuild the site; a small summary."""
    from expectations.runner import _expectation

    started = time.perf_counter()
    frame, suite = _night_batch(settings, day)
    prepared = time.perf_counter()
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    imported = time.perf_counter()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(context_root(settings)))
    # Progress bars would fill the Airflow task log with carriage returns.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_or_update_pandas(NAME)
    asset = next((a for a in source.assets if a.name == NAME), None) or (
        source.add_dataframe_asset(NAME)
    )
    batch = next((b for b in asset.batch_definitions if b.name == NAME), None) or (
        asset.add_batch_definition_whole_dataframe(NAME)
    )
    gx_suite = context.suites.add_or_update(
        gx.ExpectationSuite(
            name=NAME,
            expectations=[_expectation(check, n) for n, check in enumerate(suite.checks)],
        )
    )
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=NAME, data=batch, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=NAME,
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[SITE])],
            result_format=RESULT_FORMAT,
        )
    )
    result = checkpoint.run(
        batch_parameters={"dataframe": frame.to_pandas()},
        run_id=RunIdentifier(run_name=f"night {day.isoformat()}"),
    )
    statistics = next(iter(result.run_results.values())).statistics
    return {
        "index": str(index_path(settings)),
        "rows": frame.height,
        "success": bool(result.success),
        "expectations": int(statistics["evaluated_expectations"]),
        "failed_expectations": int(statistics["unsuccessful_expectations"]),
        "seconds_prepare": round(prepared - started, 3),
        "seconds_import": round(imported - prepared, 3),
        "seconds_gx": round(time.perf_counter() - imported, 3),
    }
