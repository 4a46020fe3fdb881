"""Nightly validation: the raw partition of a filing date -> staging + quarantine, both whole.

The rows are validated in chunks (pipelines.staging_chunks), so memory follows the chunk size,
not the day's volume; the files written are the same whatever the chunk size.

Grain of staging: one row per declaration item filed on D, contract types, latest filing wins.
Grain of quarantine: one row per (rejected row, broken rule), one file per source file.

Row-level breaches go to quarantine and the night goes on. Batch-level breaches stop the night
loudly, after quarantine is written and before staging is touched: a file whose columns no longer
carry the contract (schema change), a day's volume far outside the recent range, or too large a
share of rejected rows.
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.reading import SOURCE_FILE
from pipelines import layout
from pipelines.ingest import IngestReport, ingest_files, raw_files
from pipelines.io import TMP_SUFFIX, atomic_directory, write_parquet, write_parquet_groups
from pipelines.locks import INGEST, date_lock_name, run_lock
from pipelines.progress import QUIET, Steps
from pipelines.settings import Settings
from pipelines.staging_chunks import (
    CHUNK_ROWS,
    ScratchParts,
    merged_groups,
    plan_raw,
    row_group_sizes,
    sorted_runs,
    staged_rank,
    validate_chunks,
)
from pipelines.validate import (
    QUARANTINE_SCHEMA,
    reference_sets,
    start_importing_great_expectations,
)


class BatchError(RuntimeError):
    """The day's batch as a whole breaks the contract: the night stops with this message."""


def quarantine_file_name(source: str) -> str:
    """`<file stem>-<8 hex of the source path>.parquet`: files of the same name delivered from
    two folders (`a/day.csv`, `b/day.csv`) keep one quarantine file each."""
    stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{stem}-{hashlib.sha256(source.encode()).hexdigest()[:8]}.parquet"


def schema_breaches(settings: Settings, day: date) -> list[str]:
    """One line per raw file of the day that lacks required contract columns."""
    problems = []
    for path in raw_files(settings, day):
        columns = set(pl.read_parquet_schema(path))
        missing = [c for c in DECLARATIONS.required if c not in columns]
        if missing:
            source = pl.read_parquet(path, columns=[SOURCE_FILE])[SOURCE_FILE][0]
            problems.append(f"{source}: schema changed, required columns missing: {missing}")
    return problems


def recent_volumes(settings: Settings, day: date, window: int) -> list[int]:
    """Staged rows of each of the `window` days before `day` that have a partition."""
    counts = []
    for back in range(1, window + 1):
        path = layout.staged_declarations_file(settings, day - timedelta(days=back))
        if path.exists():
            counts.append(pl.scan_parquet(path).select(pl.len()).collect().item())
    return counts


def volume_breach(rows: int, recent: list[int], settings: Settings) -> str | None:
    """A message when `rows` lies far outside the median of recent days, else None."""
    if len(recent) < settings.volume_min_history_days:
        return None
    median = statistics.median(recent)
    low, high = median * settings.volume_low_ratio, median * settings.volume_high_ratio
    if low <= rows <= high:
        return None
    return (
        f"volume {rows} rows is outside {low:.0f}..{high:.0f} "
        f"(median of the last {len(recent)} days: {median:.0f})"
    )


def stage_declarations(
    settings: Settings, day: date, *, check_volume: bool = True, chunk_rows: int = CHUNK_ROWS
) -> dict[str, Any]:
    """Validate the raw partition of `day`: quarantine always, staging unless the batch fails.

    `check_volume` is for the nightly feed; loading history or late files skips it, since a date
    that receives a handful of late rows is not a broken feed. The rows are validated
    `chunk_rows` at a time (pipelines.staging_chunks); the files written do not depend on it.
    """
    problems = schema_breaches(settings, day)
    if problems:
        raise BatchError(f"validation of {day} stopped, nothing written: {'; '.join(problems)}")
    start_importing_great_expectations()
    plan = plan_raw(raw_files(settings, day))
    if plan is None:
        raise BatchError(f"no declarations filed on {day} reached raw: nothing to validate")
    with scratch_folder(settings, day) as scratch:
        tolerance = timedelta(days=settings.future_tolerance_days)
        parts = validate_chunks(plan, reference_sets(settings), tolerance, scratch, chunk_rows)
        rejected = (
            pl.scan_ipc(parts.rejected)
            if parts.rejected
            else pl.LazyFrame(schema=QUARANTINE_SCHEMA)
        )
        quarantine = layout.partition(layout.quarantine_declarations(settings), day)
        with atomic_directory(quarantine) as tmp:
            sources = rejected.select(SOURCE_FILE).unique(maintain_order=True).collect()
            for source in sources[SOURCE_FILE]:
                part = rejected.filter(pl.col(SOURCE_FILE).eq_missing(source)).collect()
                write_parquet(
                    part.sort("_line", "field", "rule"), tmp / quarantine_file_name(str(source))
                )
        rejected_rows = (
            rejected.select(SOURCE_FILE, "_line").unique().select(pl.len()).collect().item()
        )
        share = rejected_rows / plan.rows
        if share > settings.max_rejected_share:
            problems.append(
                f"{rejected_rows} of {plan.rows} rows rejected ({share:.1%} > "
                f"{settings.max_rejected_share:.1%} allowed)"
            )
        ranks = staged_rank(parts)
        staged_rows = ranks.height
        if check_volume:
            recent = recent_volumes(settings, day, settings.volume_window_days)
            breach = volume_breach(staged_rows, recent, settings)
            if breach:
                problems.append(breach)
        if problems:
            raise BatchError(
                f"validation of {day} stopped, staging not written: {'; '.join(problems)}; "
                f"quarantine: {quarantine}"
            )
        target = write_staging(
            parts, ranks, scratch, layout.staged_declarations_file(settings, day)
        )
        reasons = (
            rejected.unique(subset=[SOURCE_FILE, "_line", "field", "rule"])
            .group_by("field", "reason")
            .len()
            # The reason breaks ties, so the summary reads the same on every run.
            .sort("len", "field", "reason", descending=[True, False, False])
            .collect()
        )
    return {
        "rows_read": plan.rows,
        "rows_rejected": rejected_rows,
        "rows_staged": staged_rows,
        "amendments_superseded": parts.valid_rows - staged_rows,
        "staging": str(target),
        "rejections": [{"field": f, "reason": r, "rows": n} for f, r, n in reasons.iter_rows()],
    }


@contextmanager
def scratch_folder(settings: Settings, day: date) -> Iterator[Path]:
    """A folder for one validation's scratch files beside the staging partitions, removed after.

    Named like every temporary of `day` (`.date=D.<random>.tmp`), so the next run of the date
    sweeps what a killed one left (`pipelines.nightly.sweep_date`).
    """
    folder = layout.staged_declarations(settings)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f".{layout.partition_name(day)}.validate."
    scratch = Path(tempfile.mkdtemp(prefix=prefix, suffix=TMP_SUFFIX, dir=folder))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_staging(parts: ScratchParts, ranks: pl.DataFrame, scratch: Path, target: Path) -> Path:
    """The staged rows, in staging's order, written as `write_parquet` writes the whole frame."""
    schema = pl.read_ipc_schema(parts.valid[0][0])
    if ranks.height == 0:
        return write_parquet(pl.DataFrame(schema=schema), target)
    pieces = sorted_runs(parts, ranks, scratch)
    sizes = row_group_sizes(ranks.height)
    return write_parquet_groups(lambda: merged_groups(pieces, sizes), pl.Schema(schema), target)


def ingest_and_stage(
    paths: list[Path],
    settings: Settings,
    *,
    now: datetime | None = None,
    steps: Steps = QUIET,
) -> tuple[IngestReport, dict[date, dict[str, Any] | BatchError]]:
    """Load files of any dates (history, late files) and validate every date they touch.

    The nightly volume check does not apply: history arrives in uneven batches. A date whose
    batch breaks the contract is returned with its error and left unstaged; the others go on.
    `steps` hears of each file and each date.
    """
    # The same locks as a night's: a history load and a night never write one date at once.
    with run_lock(settings, INGEST):
        report = ingest_files(paths, settings, now=now, steps=steps)
    staged: dict[date, dict[str, Any] | BatchError] = {}
    steps.phase("validating filing dates", len(report.dates))
    for day_text in sorted(report.dates):
        steps.step(day_text)
        day = date.fromisoformat(day_text)
        try:
            with run_lock(settings, date_lock_name(day)):
                staged[day] = stage_declarations(settings, day, check_volume=False)
        except BatchError as error:
            staged[day] = error
    return report, staged
