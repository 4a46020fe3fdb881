"""Mapping stage: a foreign file in, contract-layout declaration (and outcome) files out.

Grain of the declarations file written: one row per source row (one goods item of one
declaration), in source order, so line N of the output is line N of a one-line-per-row source.
Grain of the outcomes file: one inspection per source row. Both are CSV in the contract layout
(lists `|`-joined), plus the mapping's extra columns and `defaulted_fields`, and are written as
`OUT/declarations/<stem>.csv` and `OUT/outcomes/<stem>.csv`: with OUT the landing zone, the
nightly ingest picks them up as any other delivery.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from contracts.mapping import (
    DEFAULTED,
    ColumnMapping,
    MappingError,
    apply_mapping,
    mapping_outcomes,
)
from contracts.reading import ROW_ERROR, read_raw
from pipelines.io import atomic_path

DEFAULTED_FIELDS = "defaulted_fields"
"""Column of the written files listing the row's defaulted fields (readers reserve `_` names)."""
_SHOWN_ROW_ERRORS = 5


@dataclass(frozen=True)
class ConvertResult:
    """What converting one foreign file wrote."""

    source: Path
    rows: int
    declarations_path: Path
    outcomes_path: Path | None
    defaulted: dict[str, int] = field(default_factory=dict)
    """Contract column -> rows whose value came from a default."""


def _contract_layout(mapped: pl.DataFrame) -> pl.DataFrame:
    public = [c for c in mapped.columns if not c.startswith("_")]
    return mapped.select(*public, pl.col(DEFAULTED).alias(DEFAULTED_FIELDS))


def _refuse_broken_rows(raw: pl.DataFrame, path: Path) -> None:
    # A row with the wrong number of fields would map shifted values: refuse the file whole.
    if ROW_ERROR not in raw.columns:
        return
    broken = raw.filter(pl.col(ROW_ERROR).is_not_null())
    if broken.height:
        shown = "; ".join(
            f"line {line}: {error}"
            for line, error in broken.select("_line", ROW_ERROR).head(_SHOWN_ROW_ERRORS).rows()
        )
        more = (
            f" (and {broken.height - _SHOWN_ROW_ERRORS} more)"
            if broken.height > _SHOWN_ROW_ERRORS
            else ""
        )
        raise MappingError(f"{path}: {broken.height} row(s) cannot be split: {shown}{more}")


def defaulted_counts(mapped: pl.DataFrame) -> dict[str, int]:
    """Contract column -> number of rows of a mapped frame that were filled from a default."""
    counts: Counter[str] = Counter()
    fields = mapped[DEFAULTED].str.split(",").explode().drop_nulls()
    for name, count in fields.filter(fields != "").value_counts().rows():
        counts[name] += count
    return dict(counts)


def convert_file(path: Path, mapping: ColumnMapping, out_dir: Path) -> ConvertResult:
    """Convert one foreign file with `mapping` into contract-layout CSV files under `out_dir`.

    Raises `MappingError` (or the reader's `MalformedFileError`) naming the file, and line where
    there is one, when the file cannot be read, lacks a mapped column or has rows that cannot be
    split; nothing is written then. Both files are renamed into place only once both are complete.
    """
    raw = read_raw(path)
    _refuse_broken_rows(raw, path)
    declarations = apply_mapping(raw, mapping)
    outcomes = mapping_outcomes(raw, mapping)
    declarations_path = out_dir / "declarations" / f"{path.stem}.csv"
    outcomes_path = out_dir / "outcomes" / f"{path.stem}.csv" if outcomes is not None else None
    with atomic_path(declarations_path) as declarations_tmp:
        _contract_layout(declarations).write_csv(declarations_tmp)
        if outcomes is not None and outcomes_path is not None:
            with atomic_path(outcomes_path) as outcomes_tmp:
                _contract_layout(outcomes).write_csv(outcomes_tmp)
    return ConvertResult(
        source=path,
        rows=declarations.height,
        declarations_path=declarations_path,
        outcomes_path=outcomes_path,
        defaulted=defaulted_counts(declarations),
    )
