"""Landing files as a delivering system would write them: contract columns, CSV, ISO 8601 UTC.

Grain: one declarations file per filing day (one row per filing of a goods item) and one
outcomes file per filing day (one row per inspection of a declaration filed that day).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.schema import Contract
from pipelines.io import write_csv

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_csv_frame(frame: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """Contract columns only, as text: lists joined with `|`, timestamps with a Z."""
    columns = []
    for column in contract.columns:
        expr = pl.col(column.name)
        if column.kind == "list":
            expr = expr.list.join(contract.list_separator)
        elif column.kind == "timestamp":
            expr = expr.dt.convert_time_zone("UTC").dt.strftime(TIMESTAMP_FORMAT)
        elif column.kind == "date":
            expr = expr.dt.strftime("%Y-%m-%d")
        columns.append(expr.alias(column.name))
    return frame.select(columns)


def declarations_path(landing: Path, day: date, suffix: str = "") -> Path:
    """landing/declarations/declarations_YYYY-MM-DD[suffix].csv"""
    return landing / "declarations" / f"declarations_{day.isoformat()}{suffix}.csv"


def outcomes_path(landing: Path, day: date) -> Path:
    """landing/outcomes/outcomes_YYYY-MM-DD.csv"""
    return landing / "outcomes" / f"outcomes_{day.isoformat()}.csv"


def write_declarations(frame: pl.DataFrame, target: Path) -> Path:
    """Write declaration rows (extra columns dropped) atomically."""
    return write_csv(to_csv_frame(frame, DECLARATIONS), target)


def write_outcomes(frame: pl.DataFrame, target: Path) -> Path:
    """Write inspection outcomes atomically."""
    return write_csv(to_csv_frame(frame, OUTCOMES), target)
