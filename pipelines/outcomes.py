"""Outcomes import: inspection results (files or the inspector app's exports) -> staging.

Grain of `staging/outcomes/date=D/outcomes.parquet`: one inspection of one declaration (or of one
item), D being the UTC date of `inspected_at`. Rows are checked against the outcomes contract with
Great Expectations, then against staging: the declaration (and item, when given) must exist and
must have been filed before it was inspected. Rejected rows go to
`quarantine/outcomes/<file-stem>.parquet` with line, field and reason. A file is imported once
(by SHA-256); re-importing the same inspection (same key) replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from contracts.outcomes import OUTCOMES
from contracts.reading import LINE, SOURCE_FILE, MalformedFileError, cast_to_contract, read_raw
from expectations.outcomes import outcomes_suite
from expectations.runner import ROW, run_suite
from pipelines.io import file_sha256, write_parquet, write_text
from pipelines.settings import Settings

OUTCOME_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
KEY = ["declaration_id", "item_no", "inspected_at"]


@dataclass
class OutcomesReport:
    """What one import did."""

    imported: dict[str, int] = field(default_factory=dict)
    rejected_rows: dict[str, int] = field(default_factory=dict)
    rejected_files: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    dates: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        """A JSON-able summary."""
        return {
            "imported": self.imported,
            "rejected_rows": self.rejected_rows,
            "rejected_files": self.rejected_files,
            "skipped": self.skipped,
            "reasons": self.reasons,
            "dates": sorted(self.dates),
        }


def outcomes_staging(settings: Settings, day: date | str) -> Path:
    """The staged outcomes of inspections made on `day`."""
    text = day if isinstance(day, str) else day.isoformat()
    return settings.zone("staging") / "outcomes" / f"date={text}" / "outcomes.parquet"


def staged_declarations(settings: Settings) -> pl.DataFrame:
    """declaration_id, item_no and filed_at of every staged declaration item."""
    folder = settings.zone("staging") / "declarations"
    files = sorted(folder.glob("date=*/declarations.parquet"))
    if not files:
        return pl.DataFrame(
            schema={"declaration_id": pl.String, "item_no": pl.Int64, "filed_at": pl.Datetime}
        )
    return pl.concat(
        [pl.read_parquet(f, columns=["declaration_id", "item_no", "filed_at"]) for f in files]
    )


def staging_failures(typed: pl.DataFrame, declarations: pl.DataFrame) -> pl.DataFrame:
    """Rows whose declaration (or item) is unknown, or that were inspected before filing."""
    first_filed = declarations.group_by("declaration_id").agg(pl.col("filed_at").min())
    items = declarations.select("declaration_id", "item_no").unique()
    checked = typed.join(first_filed, on="declaration_id", how="left").join(
        items.with_columns(pl.lit(True).alias("_item_known")),
        on=["declaration_id", "item_no"],
        how="left",
    )
    unknown = checked.filter(pl.col("filed_at").is_null()).select(
        ROW,
        pl.lit("declaration_id").alias("field"),
        pl.lit("exists").alias("rule"),
        pl.lit("declaration not found in staging").alias("reason"),
    )
    unknown_item = checked.filter(
        pl.col("filed_at").is_not_null()
        & pl.col("item_no").is_not_null()
        & pl.col("_item_known").is_null()
    ).select(
        ROW,
        pl.lit("item_no").alias("field"),
        pl.lit("exists").alias("rule"),
        pl.lit("item not found in the declaration").alias("reason"),
    )
    early = checked.filter(pl.col("inspected_at") < pl.col("filed_at")).select(
        ROW,
        pl.lit("inspected_at").alias("field"),
        pl.lit("after_filing").alias("rule"),
        pl.lit("inspected before the declaration was filed").alias("reason"),
    )
    return pl.concat([unknown, unknown_item, early])


def validate_outcomes(
    raw: pl.DataFrame, declarations: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw outcome rows into (valid, rejected: file, line, field, value, reason, rule)."""
    source = raw.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64()))
    typed, cast_failures = cast_to_contract(source, OUTCOMES)
    casts = cast_failures.join(
        typed.select(SOURCE_FILE, LINE, ROW), on=[SOURCE_FILE, LINE], nulls_equal=True
    ).select(ROW, "field", pl.lit("cast").alias("rule"), "reason")
    checks = run_suite(typed, outcomes_suite()).join(
        casts.select(ROW, "field"), on=[ROW, "field"], how="anti"
    )
    failures = pl.concat([casts, checks.select(casts.columns)])
    failed_rows = failures[ROW].unique().implode()
    clean = typed.filter(~pl.col(ROW).is_in(failed_rows))
    failures = pl.concat([failures, staging_failures(clean, declarations)])
    bad = failures[ROW].unique().implode()
    values = source.select(
        ROW, SOURCE_FILE, LINE, *[pl.col(c) for c in OUTCOMES.names if c in source.columns]
    )
    rejected = (
        failures.join(values, on=ROW)
        .with_columns(
            pl.struct([c for c in OUTCOMES.names if c in source.columns])
            .struct.json_encode()
            .alias("original")
        )
        .select(SOURCE_FILE, LINE, "field", "rule", "reason", "original")
        .sort(LINE, "field")
    )
    valid = typed.filter(~pl.col(ROW).is_in(bad)).drop(ROW)
    return valid, rejected


def _merge_into_staging(settings: Settings, valid: pl.DataFrame) -> set[str]:
    dated = valid.with_columns(pl.col("inspected_at").dt.date().cast(pl.String).alias("_day"))
    days = set()
    for (day,), part in dated.group_by("_day", maintain_order=True):
        target = outcomes_staging(settings, str(day))
        new = part.drop("_day").select(OUTCOMES.names)
        merged = pl.concat([pl.read_parquet(target), new]) if target.exists() else new
        merged = merged.unique(subset=KEY, keep="last", maintain_order=True).sort(KEY)
        write_parquet(merged, target)
        days.add(str(day))
    return days


def import_outcome_files(paths: list[Path], settings: Settings) -> OutcomesReport:
    """Import outcome files into staging; quarantine what breaks the contract."""
    report = OutcomesReport()
    declarations = staged_declarations(settings)
    ledger_dir = settings.zone("raw") / "outcomes" / "_files"
    for path in paths:
        sha = file_sha256(path)
        ledger = ledger_dir / f"{sha}.json"
        if ledger.exists():
            report.skipped.append(path.name)
            continue
        try:
            valid, rejected = validate_outcomes(read_raw(path.resolve()), declarations)
        except MalformedFileError as error:
            report.rejected_files[path.name] = str(error)
            continue
        quarantine = settings.zone("quarantine") / "outcomes" / f"{path.stem}.parquet"
        if rejected.height:
            write_parquet(rejected, quarantine)
            report.rejected_rows[path.name] = rejected.select(LINE).n_unique()
            for reason, count in rejected.group_by("reason").len().iter_rows():
                report.reasons[reason] = report.reasons.get(reason, 0) + count
        report.dates |= _merge_into_staging(settings, valid) if valid.height else set()
        report.imported[path.name] = valid.height
        entry = {
            "file": path.name,
            "sha256": sha,
            "imported": valid.height,
            "rejected": rejected.height,
            "at": datetime.now(UTC).isoformat(),
        }
        write_text(json.dumps(entry, indent=2, sort_keys=True), ledger)
    return report


def import_landing_outcomes(settings: Settings) -> OutcomesReport:
    """Import every new outcome file waiting in `landing/outcomes/`."""
    folder = settings.zone("landing") / "outcomes"
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in OUTCOME_SUFFIXES)
    return import_outcome_files(paths, settings)
