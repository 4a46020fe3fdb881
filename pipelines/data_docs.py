"""Great Expectations Data Docs of a night: the declarations suite's results as a browsable site.

Validation itself (pipelines/staging.py) runs GE in an ephemeral context on the distinct values
of each column, which is fast but leaves nothing to browse. This step runs after it, apart: it
validates the night's whole raw batch (staged and quarantined rows alike, cast to the contract)
against the same suite through a checkpoint of a file-based context under the data home, whose
UpdateDataDocs action rebuilds the site. Grain: one validation result per filing date and
chunk of at most `CHUNK_ROWS` rows (a rerun replaces nothing, it adds a run; the site lists them
all). GE's pandas engine holds a chunk as Python objects, about 16 bytes of memory per byte of
data: a whole 10 M-row night took 16.4 GB, more than every other task of the night (decision 0033,
addendum), so the batch is read, cast and validated a chunk at a time. Its CPU follows the rows
(124-258 CPU s at 10 M, by host: the night's costliest step), so a night above
`data_docs_max_rows` (default 1 M) is validated on 1 row in k, evenly over its files; validation
itself still judges every row and quarantines each one it rejects (decision 0047).

Offline the site renders unstyled: GE's HTML pulls its CSS and JavaScript from CDNs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines.settings import Settings

if TYPE_CHECKING:
    from expectations.suite import Suite

CONTEXT_DIR = "gx"
"""Where the file-based GE context lives under the data home (GE names the folder itself)."""
SITE = "local_site"
NAME = "cargo_risk_declarations"
CHUNK_ROWS = 250_000
"""Rows validated in one checkpoint run: a night of at most this many rows gives one result, as
before chunking; a 10 M-row night gives 40. Peak memory follows the chunk, not the night: validate's
chunk size (decision 0038)."""
RESULT_FORMAT = {"result_format": "SUMMARY"}
"""SUMMARY, not COMPLETE: the site shows counts and examples; row-level failures are in
quarantine already, and COMPLETE costs seconds per 10,000 failing rows."""


def context_root(settings: Settings) -> Path:
    """The folder that holds the GE project (`gx/`)."""
    return settings.home


def index_path(settings: Settings) -> Path:
    """The Data Docs site's front page."""
    return context_root(settings) / CONTEXT_DIR / "uncommitted" / "data_docs" / SITE / "index.html"


def _night_suite(settings: Settings, day: date) -> tuple[dict[Path, int], Suite]:
    """The raw files of `day` (name order) with their rows, and the suite validation used for
    them (same reference sets, same clock: the latest ingest time of the date's rows)."""
    from expectations.declarations import declarations_suite
    from pipelines.ingest import raw_files
    from pipelines.validate import reference_sets

    files = raw_files(settings, day)
    if not files:
        raise FileNotFoundError(f"no declarations filed on {day} reached raw: no Data Docs")
    # One read of each file's ingest times gives both its rows and the night's clock.
    ingested = [
        pl.read_parquet(f, columns=["_ingested_at"]).get_column("_ingested_at") for f in files
    ]
    now: datetime = max(column.max() for column in ingested)  # type: ignore[type-var,assignment]
    suite = declarations_suite(
        reference_sets(settings), now, timedelta(days=settings.future_tolerance_days)
    )
    return {f: len(column) for f, column in zip(files, ingested, strict=True)}, suite


def sample_every(total: int, max_rows: int) -> int:
    """Validate one row in this many: 1 (every row) for a night of at most `max_rows` rows or
    when `max_rows` is 0, else the smallest step whose sample holds at most `max_rows` rows."""
    if max_rows <= 0 or total <= max_rows:
        return 1
    return -(-total // max_rows)


def _chunks(
    files: dict[Path, int], suite: Suite, chunk_rows: int, every: int = 1
) -> Iterator[pl.DataFrame]:
    """Rows of `files` (each with its row count), typed to the contract with the suite's helper
    columns, at most `chunk_rows` at a time. `_row` numbers each row by its place in the night
    (files in name order, each in its stored line order, from 0); with `every` above 1 only the
    rows numbered 0, every, 2 x every, ... are kept. Never more than `chunk_rows` raw rows are
    read at once."""
    from contracts.declarations import DECLARATIONS
    from contracts.reading import cast_to_contract
    from expectations.runner import ROW, prepare

    held: list[pl.DataFrame] = []
    held_rows = 0
    start = 0
    for file, rows in files.items():
        scan = pl.scan_parquet(file)
        for offset in range(0, rows, chunk_rows):
            first = start + offset
            window = (
                scan.slice(offset, chunk_rows)
                .with_row_index(ROW, offset=first)
                .gather_every(every, offset=(-first) % every)
                .collect()
            )
            if window.height == 0:
                continue
            numbers = window.get_column(ROW).cast(pl.Int64())
            typed, _ = cast_to_contract(window.drop(ROW), DECLARATIONS)
            # The helper columns are per row, so a chunk gathered from several windows is
            # prepared as the same rows read at once would be.
            held.append(prepare(typed.with_columns(numbers), suite))
            held_rows += window.height
            while held_rows >= chunk_rows:
                gathered = pl.concat(held)
                yield gathered.head(chunk_rows)
                rest = gathered.slice(chunk_rows)
                held, held_rows = ([rest] if rest.height else []), rest.height
        start += rows
    if held_rows:
        yield pl.concat(held)


def build_data_docs(
    settings: Settings, day: date, chunk_rows: int = CHUNK_ROWS, max_rows: int | None = None
) -> dict[str, Any]:
    """Validate the night's batch through the checkpoint, a chunk of at most `chunk_rows` rows
    per run, and rebuild the site; a small summary of all the chunks. A night of more than
    `max_rows` rows (default: the setting `data_docs_max_rows`; 0: no limit) is validated on an
    even sample of its rows (`sample_every`)."""
    from expectations.runner import _expectation, without_batch_fingerprints

    started = time.perf_counter()
    files, suite = _night_suite(settings, day)
    suite_built = time.perf_counter()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    imported = time.perf_counter()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    without_batch_fingerprints()
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
    # No UpdateDataDocs action: it would rebuild the site's index after every chunk. The runs
    # store their results; the site is built once, for them, at the end.
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=NAME,
            validation_definitions=[definition],
            actions=[],
            result_format=RESULT_FORMAT,
        )
    )
    stored: list[Any] = []
    total = sum(files.values())
    every = sample_every(total, settings.data_docs_max_rows if max_rows is None else max_rows)
    sampled = -(-total // every)
    parts = -(-sampled // chunk_rows)
    rows, runs, success, evaluated = 0, 0, True, 0
    failed: set[str] = set()
    seconds_gx = 0.0
    looped = time.perf_counter()
    for frame in _chunks(files, suite, chunk_rows, every):
        ticked = time.perf_counter()
        first, last = rows + 1, rows + frame.height
        name = f"night {day.isoformat()}"
        # A night of one chunk keeps the run name it always had; chunks say which rows they
        # hold, and a sample says so.
        if every > 1:
            name += f", 1 row in {every:,} ({sampled:,} of {total:,} rows)"
            if parts > 1:
                name += f", part {runs + 1} of {parts}"
        elif total > chunk_rows:
            name += f", rows {first:,}-{last:,} of {total:,}"
        result = checkpoint.run(
            batch_parameters={"dataframe": frame.to_pandas()},
            run_id=RunIdentifier(run_name=name),
        )
        (identifier, validation), *_ = result.run_results.items()
        stored.append(identifier)
        success = success and bool(result.success)
        evaluated = int(validation.statistics["evaluated_expectations"])
        failed.update(
            str(outcome.expectation_config.id if outcome.expectation_config else n)
            for n, outcome in enumerate(validation.results)
            if not outcome.success
        )
        rows, runs = last, runs + 1
        seconds_gx += time.perf_counter() - ticked
    # Reading and casting the chunks: the loop's time less GE's.
    seconds_prepare = (suite_built - started) + (time.perf_counter() - looped - seconds_gx)
    ticked = time.perf_counter()
    context.build_data_docs(site_names=[SITE], resource_identifiers=stored)
    seconds_gx += time.perf_counter() - ticked
    return {
        "index": str(index_path(settings)),
        "rows": rows,
        "rows_in_night": total,
        "sample_every": every,
        "runs": runs,
        "success": success,
        "expectations": evaluated,
        "failed_expectations": len(failed),
        "seconds_prepare": round(seconds_prepare, 3),
        "seconds_import": round(imported - suite_built, 3),
        "seconds_gx": round(seconds_gx, 3),
    }
