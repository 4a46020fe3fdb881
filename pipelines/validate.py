"""Validate: declaration files (or a raw partition) -> (valid rows, rejected rows).

This module only checks; it writes nothing. `cargo-risk validate` reports on files and can write
the rejected rows to a file the user names; `pipelines.staging` (the nightly stage and
`cargo-risk ingest`) is the one way into the staging and quarantine zones. Grain of the rejected
rows: one row per (rejected row, broken rule), with file, line, field, value, reason, rule and the
row's original values as JSON (QUARANTINE_SCHEMA). A file that cannot be parsed at all is
reported and nothing of it is kept.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
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
from expectations.runner import ROW, Verdicts, run_suite
from expectations.suite import Suite
from pipelines.settings import Settings

if TYPE_CHECKING:
    from contracts.mapping import ColumnMapping

FILING_DATE = "_filing_date"
SuiteRunner = Callable[[pl.DataFrame, Suite], pl.DataFrame]
INGESTED_AT = "_ingested_at"
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


@dataclass
class ValidationReport:
    """What one validation of files found, file by file; the rows it kept and rejected."""

    files: list[FileReport] = field(default_factory=list)
    kept: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Valid rows of every readable file, the latest filing per key (what ingest would stage)."""
    rejected: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    """Rejected rows of every readable file (QUARANTINE_SCHEMA)."""

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
    verdicts: Verdicts | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split an all-String raw declarations frame into (valid, rejected).

    `raw` is what `read_raw` returns or a raw-zone partition (several files). `valid` has the
    contract's columns and types, extra columns, `_source_file` and `_line`; `rejected` follows
    QUARANTINE_SCHEMA. Latest-filing selection is left to the writer (it spans partitions).
    `verdicts` carries Great Expectations' verdicts from one chunk of a day to the next (same
    `now` and references): values already judged are not validated again.
    """
    source = _numbered(raw)
    if mapping is not None:
        from contracts.mapping import apply_mapping

        mapped = apply_mapping(source, mapping)
    else:
        mapped = source
    # Raw partitions carry each row's arrival: a row is judged against the moment it came.
    arrived = INGESTED_AT if INGESTED_AT in source.columns else None
    suite = declarations_suite(refs, now, future_tolerance, arrived=arrived)
    runner = partial(run_suite, verdicts=verdicts)
    return _split(source, mapped, DECLARATIONS, suite, "filed_at", runner=runner)


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


def validate_with_suite(
    raw: pl.DataFrame, suite: Suite, runner: SuiteRunner = run_suite
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`validate_frame` with a suite built beforehand and a chosen executor (the pre-loading
    service keeps one suite and runs it in Polars: `expectations.polars_runner`)."""
    source = _numbered(raw)
    return _split(source, source, DECLARATIONS, suite, "filed_at", runner=runner)


def _split(
    source: pl.DataFrame,
    mapped: pl.DataFrame,
    contract: Contract,
    suite: Suite,
    dated_by: str,
    *,
    runner: SuiteRunner = run_suite,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    typed, cast_failures = cast_to_contract(mapped, contract)
    check_failures = runner(typed, suite)
    if cast_failures.is_empty() and check_failures.is_empty():
        # Every row kept every rule (the usual call of the assessment service): nothing to
        # blame, filter or quarantine.
        return typed.drop(ROW, ROW_ERROR), pl.DataFrame(schema=QUARANTINE_SCHEMA)
    failures = _all_failures(contract, cast_failures, check_failures)
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


def latest_filings(valid: pl.DataFrame) -> pl.DataFrame:
    """The latest filing of each key (`latest_filing`), sorted by filing time and key."""
    # Only the key columns are sorted; the wide frame is then gathered once, in that order.
    return valid.select(pl.all().gather(staging_order(valid)))


def staging_order(valid: pl.DataFrame) -> pl.Series:
    """Positions in `valid` of the latest filing of each key, sorted by filing time and key.

    Reads only the key columns and `filed_at`, so the streamed stage (pipelines.staging_chunks)
    can call it on those columns of the whole day. Amendments are a few rows in a thousand, so
    only keys filed more than once go through `latest_filing`; the sort on (filed_at, key)
    orders the kept rows whole either way.
    """
    position = "__position"
    narrow = valid.select(*DECLARATIONS.key, "filed_at")
    repeated = pl.struct(DECLARATIONS.key).is_duplicated()
    refiled = narrow.with_row_index(position).filter(repeated)
    kept = latest_filing(refiled, DECLARATIONS)[position]
    return (
        narrow.lazy()
        .with_row_index(position)
        .filter(~repeated | pl.col(position).is_in(kept.implode()))
        .select(pl.col(position).sort_by("filed_at", *DECLARATIONS.key))
        .collect()
        .to_series()
    )


def validate_files(
    paths: Sequence[Path],
    settings: Settings,
    mapping: ColumnMapping | None = None,
    now: datetime | None = None,
    *,
    refs: Mapping[str, Collection[str]] | None = None,
) -> ValidationReport:
    """Check files against the contract; report counts per file and reason. Writes nothing.

    A file that cannot be parsed is reported with its one-line error and the others go on.
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
    rejected_parts: list[pl.DataFrame] = [report.rejected]
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
        valid_parts.append(valid)
        rejected_parts.append(rejected)
    if valid_parts:
        report.kept = latest_filings(pl.concat(valid_parts, how="diagonal_relaxed"))
    report.rejected = pl.concat(rejected_parts).sort(SOURCE_FILE, LINE, "field", "rule")
    return report
