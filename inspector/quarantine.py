"""The quarantine as the data team reads it: a night's rejected rows, grouped by reason.

Grain of the source: one row per (rejected row, broken rule), `quarantine/declarations/date=D/`.
Read only: fixing a row means a corrected file in landing, which the nightly run picks up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.layout import partition, partition_days

ROWS_SHOWN = 200


@dataclass(frozen=True)
class QuarantineDay:
    """What was rejected on one filing date."""

    day: date
    rows: int
    by_reason: list[dict[str, Any]]
    sample: list[dict[str, Any]]


def quarantine_days(folder: Path) -> list[date]:
    """Filing dates with a quarantine partition, newest first."""
    return sorted(partition_days(folder), reverse=True)


def quarantine_day(folder: Path, day: date) -> QuarantineDay:
    """The rejected rows of `day`: counts per field and reason, and the first rows."""
    files = sorted(partition(folder, day).glob("*.parquet"))
    if not files:
        return QuarantineDay(day=day, rows=0, by_reason=[], sample=[])
    frame = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    by_reason = (
        frame.group_by("field", "reason")
        .agg(pl.struct("_source_file", "_line").n_unique().alias("rows"))
        .sort("rows", "field", descending=[True, False])
    )
    sample = frame.sort("_source_file", "_line", "field").head(ROWS_SHOWN)
    return QuarantineDay(
        day=day,
        rows=frame.select("_source_file", "_line").n_unique(),
        by_reason=by_reason.to_dicts(),
        sample=sample.select("_source_file", "_line", "field", "value", "reason").to_dicts(),
    )
