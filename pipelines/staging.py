"""Nightly validation: the raw partition of a filing date -> staging + quarantine, both whole.

Grain of staging: one row per declaration item filed on D, contract types, latest filing wins.
Grain of quarantine: one row per (rejected row, broken rule), one file per source file.

Row-level breaches go to quarantine and the night goes on. Batch-level breaches stop the night
loudly, after quarantine is written and before staging is touched: a file whose columns no longer
carry the contract (schema change), a day's volume far outside the recent range, or too large a
share of rejected rows.
"""

from __future__ import annotations

import hashlib
import statistics
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.reading import SOURCE_FILE
from pipelines import layout
from pipelines.ingest import IngestReport, ingest_files, raw_files, raw_partition
from pipelines.io import atomic_directory, write_parquet
from pipelines.locks import INGEST, date_lock_name, run_lock
from pipelines.progress import QUIET, Steps
from pipelines.settings import Settings
from pipelines.validate import (
    latest_filings,
    reference_sets,
    start_importing_great_expectations,
    validate_frame,
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
    settings: Settings, day: date, *, check_volume: bool = True
) -> dict[str, Any]:
    """Validate the raw partition of `day`: quarantine always, staging unless the batch fails.

    `check_volume` is for the nightly feed; loading history or late files skips it, since a date
    that receives a handful of late rows is not a broken feed.
    """
    problems = schema_breaches(settings, day)
    if problems:
        raise BatchError(f"validation of {day} stopped, nothing written: {'; '.join(problems)}")
    start_importing_great_expectations()
    raw = raw_partition(settings, day)
    if raw is None:
        raise BatchError(f"no declarations filed on {day} reached raw: nothing to validate")
    now = raw["_ingested_at"].max()
    rows_read = raw.height
    valid, rejected = validate_frame(
        raw,
        reference_sets(settings),
        now,  # type: ignore[arg-type]
        future_tolerance=timedelta(days=settings.future_tolerance_days),
    )
    del raw  # the all-String copy of the day is the largest frame: free it before staging
    quarantine = layout.partition(layout.quarantine_declarations(settings), day)
    with atomic_directory(quarantine) as tmp:
        for (source,), part in rejected.group_by(SOURCE_FILE, maintain_order=True):
            name = quarantine_file_name(str(source))
            write_parquet(part.sort("_line", "field", "rule"), tmp / name)
    rejected_rows = rejected.select(SOURCE_FILE, "_line").n_unique() if rejected.height else 0
    share = rejected_rows / rows_read
    if share > settings.max_rejected_share:
        problems.append(
            f"{rejected_rows} of {rows_read} rows rejected ({share:.1%} > "
            f"{settings.max_rejected_share:.1%} allowed)"
        )
    staged = latest_filings(valid)
    superseded = valid.height - staged.height
    del valid
    if check_volume:
        recent = recent_volumes(settings, day, settings.volume_window_days)
        breach = volume_breach(staged.height, recent, settings)
        if breach:
            problems.append(breach)
    if problems:
        raise BatchError(
            f"validation of {day} stopped, staging not written: {'; '.join(problems)}; "
            f"quarantine: {quarantine}"
        )
    target = write_parquet(staged, layout.staged_declarations_file(settings, day))
    reasons = (
        rejected.unique(subset=[SOURCE_FILE, "_line", "field", "rule"])
        .group_by("field", "reason")
        .len()
        .sort("len", "field", descending=[True, False])
    )
    return {
        "rows_read": rows_read,
        "rows_rejected": rejected_rows,
        "rows_staged": staged.height,
        "amendments_superseded": superseded,
        "staging": str(target),
        "rejections": [{"field": f, "reason": r, "rows": n} for f, r, n in reasons.iter_rows()],
    }


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
