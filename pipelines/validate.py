"""Validate stage: declaration files (or a raw partition) -> staging + quarantine.

Grain of staging: one row per declaration item filed on date D, in the contract's types, the latest
filing of the day winning (`staging/declarations/date=D/declarations.parquet`). Grain of quarantine:
one row per (rejected row, broken rule), with file, line, field, value, reason, rule and the row's
original values as JSON (`quarantine/declarations/date=D/<file-stem>.parquet`; D is the row's
filing date when it parses, else the run date). A file that cannot be parsed at all is reported
and nothing of it is loaded.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.reading import (
    LINE,
    ROW_ERROR,
    SOURCE_FILE,
    MalformedFileError,
    cast_to_contract,
    latest_filing,
    read_raw,
)
from contracts.schema import Contract
from expectations.declarations import declarations_suite
from expectations.outcomes import outcomes_suite
from expectations.runner import ROW, run_suite
from expectations.suite import Suite
from pipelines import layout
from pipelines.io import write_parquet
from pipelines.settings import Settings

if TYPE_CHECKING:
    from contracts.mapping import ColumnMapping

FILING_DATE = "_filing_date"
QUARANTINE_SCHEMA = pl.Schema(
    {
        SOURCE_FILE: pl.String(),
        LINE: pl.Int64(),
        "field": pl.String(),
        "value": pl.String(),
        "reason": pl.String(),
        "rule": pl.String(),
        "original": pl.String(),
        FILING_DATE: pl.Date(),
    }
)
"""Rejected: one row per (rejected row, broken rule); `original` is the source row as JSON."""


class RejectedShareError(RuntimeError):
    """More of a batch was rejected than `settings.max_rejected_share` allows."""

    def __init__(self, report: ValidationReport, limit: float) -> None:
        super().__init__(
            f"{report.rows_rejected} of {report.rows_read} rows rejected "
            f"({report.rejected_share:.1%} > {limit:.1%} allowed): staging was not written; "
            f"see the quarantine files {', '.join(str(p) for p in report.quarantine_paths)}"
        )
        self.report = report


@dataclass
class FileReport:
    """What validation did with one file."""

    path: Path
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    reasons: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(field, rule, reason) -> rows rejected for it."""
    error: str | None = None
    """The one-line message when the file could not be parsed at all."""
    quarantine_paths: list[Path] = field(default_factory=list)


@dataclass
class ValidationReport:
    """What one validation batch did, file by file, and where it wrote."""

    files: list[FileReport] = field(default_factory=list)
    staging_paths: list[Path] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Rows read from the files that could be parsed."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_kept(self) -> int:
        """Rows that passed every check."""
        return sum(f.rows_kept for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows sent to quarantine."""
        return sum(f.rows_rejected for f in self.files)

    @property
    def rejected_share(self) -> float:
        """Rejected rows over rows read (0 when nothing was read)."""
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    @property
    def reasons(self) -> Counter[tuple[str, str, str]]:
        """(field, rule, reason) -> rows rejected for it, over all files."""
        total: Counter[tuple[str, str, str]] = Counter()
        for report in self.files:
            total.update(report.reasons)
        return total

    @property
    def errors(self) -> dict[str, str]:
        """File -> one-line error, for files that could not be parsed at all."""
        return {str(f.path): f.error for f in self.files if f.error is not None}

    @property
    def quarantine_paths(self) -> list[Path]:
        """Every quarantine file written."""
        return [p for f in self.files for p in f.quarantine_paths]


def start_importing_great_expectations() -> None:
    """Import Great Expectations in the background while Polars reads and casts the batch.

    The import is 3-5 s of pure Python; Polars' work releases the GIL, so the two overlap. An
    `import` of it later waits for this one to finish (Python locks a module being imported).
    """
    threading.Thread(target=_import_quietly, args=("great_expectations",), daemon=True).start()


def _import_quietly(module: str) -> None:
    # A failure here is raised again, with its traceback, by the import that needs the module.
    with contextlib.suppress(Exception):
        importlib.import_module(module)


def reference_sets(settings: Settings) -> dict[str, frozenset[str]]:
    """The reference sets the declarations contract names, from the shipped reference data."""
    from contracts import reference

    return {
        "locode": reference.locodes(),
        "hs6": reference.hs6_codes(),
        "country": reference.country_codes(),
        "currency": reference.convertible_currencies(settings.currency_rates),
    }


def validate_frame(
    raw: pl.DataFrame,
    refs: Mapping[str, Collection[str]],
    now: datetime,
    *,
    future_tolerance: timedelta = timedelta(days=1),
    mapping: ColumnMapping | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split an all-String raw declarations frame into (valid, rejected).

    `raw` is what `read_raw` returns or a raw-zone partition (several files). `valid` has the
    contract's columns and types, extra columns, `_source_file` and `_line`; `rejected` follows
    QUARANTINE_SCHEMA. Latest-filing selection is left to the writer (it spans partitions).
    """
    source = _numbered(raw)
    if mapping is not None:
        from contracts.mapping import apply_mapping

        mapped = apply_mapping(source, mapping)
    else:
        mapped = source
    suite = declarations_suite(refs, now, future_tolerance)
    return _split(source, mapped, DECLARATIONS, suite, "filed_at")


def validate_outcomes_frame(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split an all-String raw outcomes frame into (valid, rejected), as `validate_frame` does.

    Whether the declaration exists and was filed before `inspected_at` needs staging: the caller
    checks that on `valid`. `_filing_date` of a rejected row holds its inspection date.
    """
    source = _numbered(raw)
    return _split(source, source, OUTCOMES, outcomes_suite(), "inspected_at")


def _numbered(raw: pl.DataFrame) -> pl.DataFrame:
    source = raw.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64()))
    if ROW_ERROR not in source.columns:
        source = source.with_columns(pl.lit(None, pl.String()).alias(ROW_ERROR))
    return source


def _split(
    source: pl.DataFrame, mapped: pl.DataFrame, contract: Contract, suite: Suite, dated_by: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    typed, cast_failures = cast_to_contract(mapped, contract)
    failures = _all_failures(contract, cast_failures, run_suite(typed, suite))
    bad_rows = failures[ROW].unique()
    valid = typed.filter(~pl.col(ROW).is_in(bad_rows.implode())).drop(ROW, ROW_ERROR)
    dates = typed.select(ROW, pl.col(dated_by).dt.date().alias(FILING_DATE))
    rejected = _quarantine_rows(source, mapped, contract, dates, failures)
    return valid, rejected


def _all_failures(
    contract: Contract, cast_failures: pl.DataFrame, check_failures: pl.DataFrame
) -> pl.DataFrame:
    """One frame of (row, field, rule, reason); a value that did not cast is blamed once."""
    kinds = {c.name: c.kind for c in contract.columns}
    cast = cast_failures.select(
        ROW,
        "field",
        pl.col("field")
        .replace_strict(kinds, default=None, return_dtype=pl.String())
        .map_batches(lambda kind: "cast:" + kind, pl.String())
        .fill_null("structure")
        .alias("rule"),
        "reason",
    )
    # The not-null check also fires for a value that did not cast: the cast reason says more.
    checks = check_failures.join(cast.select(ROW, "field"), on=[ROW, "field"], how="anti")
    return pl.concat([cast, checks.select(cast.columns)]).sort(ROW, "field", "rule")


def _quarantine_rows(
    source: pl.DataFrame,
    mapped: pl.DataFrame,
    contract: Contract,
    dates: pl.DataFrame,
    failures: pl.DataFrame,
) -> pl.DataFrame:
    if failures.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    bad = failures[ROW].unique().implode()
    originals = source.filter(pl.col(ROW).is_in(bad))
    data_columns = [c for c in source.columns if not c.startswith("_")]
    original = originals.select(
        ROW,
        SOURCE_FILE,
        LINE,
        pl.struct(data_columns).struct.json_encode().alias("original")
        if data_columns
        else pl.lit("{}").alias("original"),
    )
    checked = [c for c in contract.names if c in mapped.columns]
    values = (
        mapped.filter(pl.col(ROW).is_in(bad))
        .select(ROW, *(pl.col(c).cast(pl.String()) for c in checked))
        .unpivot(index=ROW, variable_name="field", value_name="value")
    )
    return (
        failures.join(original, on=ROW)
        .join(values, on=[ROW, "field"], how="left")
        .join(dates, on=ROW)
        .sort(ROW, "field", "rule")
        .select(QUARANTINE_SCHEMA.names())
        .cast(QUARANTINE_SCHEMA)
    )


def write_quarantine(
    rejected: pl.DataFrame, settings: Settings, name: str, run_date: date
) -> list[Path]:
    """Write rejected rows as `<name>.parquet` in the partition of each row's date.

    Earlier quarantine files of the same name in any partition are removed first, so a rerun of
    a corrected file leaves no stale rejections behind.
    """
    quarantine = layout.quarantine_declarations(settings)
    for old in quarantine.glob(f"{layout.PARTITION_GLOB}/{name}.parquet"):
        old.unlink()
    if rejected.height == 0:
        return []
    dated = rejected.with_columns(pl.col(FILING_DATE).fill_null(run_date))
    written: list[Path] = []
    for (day,), part in dated.group_by(FILING_DATE, maintain_order=True):
        assert isinstance(day, date)
        target = layout.partition(quarantine, day) / f"{name}.parquet"
        written.append(write_parquet(part.sort(SOURCE_FILE, LINE, "field"), target))
    return sorted(written)


def latest_filings(valid: pl.DataFrame) -> pl.DataFrame:
    """The latest filing of each key (`latest_filing`), sorted by filing time and key.

    Amendments are a few rows in a thousand, so only keys filed more than once go through
    `latest_filing`; the sort on (filed_at, key) orders the kept rows whole either way.
    """
    position = "__position"
    repeated = pl.struct(DECLARATIONS.key).is_duplicated()
    refiled = valid.with_row_index(position).filter(repeated)
    kept = latest_filing(refiled, DECLARATIONS)[position]
    # Only the key columns are sorted; the wide frame is then gathered once, in that order.
    order = (
        valid.lazy()
        .with_row_index(position)
        .filter(~repeated | pl.col(position).is_in(kept.implode()))
        .select(pl.col(position).sort_by("filed_at", *DECLARATIONS.key))
        .collect()
        .to_series()
    )
    return valid.select(pl.all().gather(order))


def write_staging(valid: pl.DataFrame, settings: Settings, replaces: Sequence[str]) -> list[Path]:
    """Merge valid rows into the staging partition of each filing date.

    Rows an earlier run took from the files in `replaces` are dropped first, so rerunning a file
    gives the same partition; rows of other files stay. The latest filing per key wins.
    """
    dated = valid.with_columns(pl.col("filed_at").dt.date().alias(FILING_DATE))
    new_by_day = {
        day: part.drop(FILING_DATE)
        for (day,), part in dated.group_by(FILING_DATE, maintain_order=True)
        if isinstance(day, date)
    }
    # A rerun may move a row to another date: partitions holding rows of these files change too.
    days = set(new_by_day) | _days_holding(settings, replaces)
    written: list[Path] = []
    for day in sorted(days):
        target = layout.staged_declarations_file(settings, day)
        parts = [new_by_day[day]] if day in new_by_day else []
        if target.exists():
            kept = pl.read_parquet(target).filter(~pl.col(SOURCE_FILE).is_in(list(replaces)))
            parts.insert(0, kept)
        merged = pl.concat(parts, how="diagonal_relaxed")
        written.append(write_parquet(latest_filings(merged), target))
    return written


def _days_holding(settings: Settings, files: Sequence[str]) -> set[date]:
    days: set[date] = set()
    staged = layout.staged_declarations(settings)
    for day, path in layout.partition_files(staged, layout.DECLARATIONS_FILE):
        sources = pl.read_parquet(path, columns=[SOURCE_FILE])[SOURCE_FILE]
        if sources.is_in(list(files)).any():
            days.add(day)
    return days


def validate_files(
    paths: Sequence[Path],
    settings: Settings,
    mapping: ColumnMapping | None = None,
    now: datetime | None = None,
    *,
    refs: Mapping[str, Collection[str]] | None = None,
) -> ValidationReport:
    """Validate files into staging and quarantine; report counts per file and reason.

    A file that cannot be parsed is reported with its one-line error and the others go on. When
    the rejected share of the batch exceeds `settings.max_rejected_share`, `RejectedShareError`
    is raised after quarantine is written and before staging is touched.
    """
    from contracts.mapping import MappingError

    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start_importing_great_expectations()
    references = refs if refs is not None else reference_sets(settings)
    tolerance = timedelta(days=settings.future_tolerance_days)
    report = ValidationReport()
    valid_parts: list[pl.DataFrame] = []
    for path in paths:
        file_report = FileReport(path)
        report.files.append(file_report)
        try:
            raw = read_raw(path.resolve())
            valid, rejected = validate_frame(
                raw, references, moment, future_tolerance=tolerance, mapping=mapping
            )
        except MalformedFileError as error:
            file_report.error = str(error)
            continue
        except MappingError as error:
            file_report.error = str(MalformedFileError(path, f"mapping does not fit: {error}"))
            continue
        file_report.rows_read = raw.height
        file_report.rows_kept = valid.height
        file_report.rows_rejected = rejected.select(SOURCE_FILE, LINE).n_unique()
        per_row = rejected.unique(subset=[SOURCE_FILE, LINE, "field", "rule"])
        file_report.reasons.update(
            (row["field"], row["rule"], row["reason"]) for row in per_row.iter_rows(named=True)
        )
        file_report.quarantine_paths = write_quarantine(
            rejected, settings, path.stem, moment.astimezone(UTC).date()
        )
        valid_parts.append(valid)
    if report.rejected_share > settings.max_rejected_share:
        raise RejectedShareError(report, settings.max_rejected_share)
    if valid_parts:
        valid_all = pl.concat(valid_parts, how="diagonal_relaxed")
        replaced = [str(f.path.resolve()) for f in report.files if f.error is None]
        report.staging_paths = write_staging(valid_all, settings, replaced)
    return report


def report_as_dict(report: ValidationReport) -> dict[str, object]:
    """A small JSON-able summary for logs and XCom."""
    return {
        "rows_read": report.rows_read,
        "rows_kept": report.rows_kept,
        "rows_rejected": report.rows_rejected,
        "errors": report.errors,
        "reasons": [
            {"field": f, "rule": r, "reason": why, "rows": n}
            for (f, r, why), n in sorted(report.reasons.items())
        ],
        "staging": [str(p) for p in report.staging_paths],
        "quarantine": [str(p) for p in report.quarantine_paths],
    }
