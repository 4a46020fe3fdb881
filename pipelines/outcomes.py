"""Outcomes import: inspection results (files or the inspector app's exports) -> staging.

Grain of `staging/outcomes/date=D/outcomes.parquet`: one inspection of one declaration (or of one
item), D being the UTC date of `inspected_at`. Rows are checked against the outcomes contract with
Great Expectations, then against staging: the declaration (and item, when given) must exist and
must have been filed before it was inspected. Rejected rows go to
`quarantine/outcomes/<file-stem>-<8 hex of its SHA-256>.parquet` with line, field and reason, so
two files of the same name (another day's `outcomes.csv`, or `a/` and `b/`) keep one quarantine
file each. A file is imported once (by SHA-256); re-importing the same inspection (same key)
replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from contracts.outcomes import OUTCOMES
from contracts.reading import LINE, SOURCE_FILE, MalformedFileError, read_raw
from pipelines import layout
from pipelines.io import file_sha256, write_parquet, write_text
from pipelines.settings import Settings
from pipelines.validate import FILING_DATE, QUARANTINE_SCHEMA, validate_outcomes_frame

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


def staged_declarations(settings: Settings, ids: pl.Series) -> pl.DataFrame:
    """declaration_id, item_no and filed_at of the staged items of the declarations `ids`.

    Only the named declarations are kept while scanning, so memory does not grow with history.
    """
    staged = layout.partition_files(layout.staged_declarations(settings), layout.DECLARATIONS_FILE)
    files = [path for _, path in staged]
    if not files:
        return pl.DataFrame(
            schema={"declaration_id": pl.String, "item_no": pl.Int64, "filed_at": pl.Datetime}
        )
    return (
        pl.scan_parquet(files)
        .select("declaration_id", "item_no", "filed_at")
        .filter(pl.col("declaration_id").is_in(ids.unique().implode()))
        .collect()
    )


def staging_failures(valid: pl.DataFrame, declarations: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows for outcomes whose declaration (or item) is not staged, or that were
    inspected before the declaration was filed; `valid` carries a row index `_i`."""
    first_filed = declarations.group_by("declaration_id").agg(pl.col("filed_at").min())
    items = declarations.select("declaration_id", "item_no").unique().with_columns(_known=True)
    checked = valid.join(first_filed, on="declaration_id", how="left").join(
        items, on=["declaration_id", "item_no"], how="left"
    )
    known = pl.col("filed_at").is_not_null()
    problems = [
        (~known, "declaration_id", "exists", "declaration not found in staging"),
        (
            known & pl.col("item_no").is_not_null() & pl.col("_known").is_null(),
            "item_no",
            "exists",
            "item not found in the declaration",
        ),
        (
            pl.col("inspected_at") < pl.col("filed_at"),
            "inspected_at",
            "after_filing",
            "inspected before the declaration was filed",
        ),
    ]
    names = [c for c in OUTCOMES.names if c in valid.columns]
    return pl.concat(
        [
            checked.filter(broken).select(
                "_i",
                SOURCE_FILE,
                LINE,
                pl.lit(field).alias("field"),
                pl.col(field).cast(pl.String).alias("value"),
                pl.lit(reason).alias("reason"),
                pl.lit(rule).alias("rule"),
                pl.struct(pl.col(names).cast(pl.String)).struct.json_encode().alias("original"),
                pl.col("inspected_at").dt.date().alias(FILING_DATE),
            )
            for broken, field, rule, reason in problems
        ]
    )


def validate_outcomes(
    raw: pl.DataFrame, declarations: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw outcome rows into (valid, rejected in QUARANTINE_SCHEMA): the contract first
    (Great Expectations), then staging."""
    valid, rejected = validate_outcomes_frame(raw)
    numbered = valid.with_row_index("_i")
    failures = staging_failures(numbered, declarations)
    kept = numbered.filter(~pl.col("_i").is_in(failures["_i"].implode())).drop("_i")
    rejected = pl.concat([rejected, failures.drop("_i").cast(QUARANTINE_SCHEMA)])
    return kept, rejected.sort(LINE, "field")


def _merge_into_staging(settings: Settings, valid: pl.DataFrame) -> set[str]:
    dated = valid.with_columns(pl.col("inspected_at").dt.date().cast(pl.String).alias("_day"))
    days = set()
    for (day,), part in dated.group_by("_day", maintain_order=True):
        target = layout.staged_outcomes_file(settings, date.fromisoformat(str(day)))
        new = part.drop("_day").select(OUTCOMES.names)
        merged = pl.concat([pl.read_parquet(target), new]) if target.exists() else new
        merged = merged.unique(subset=KEY, keep="last", maintain_order=True).sort(KEY)
        write_parquet(merged, target)
        days.add(str(day))
    return days


def outcome_quarantine_file(settings: Settings, source: Path, sha256: str) -> Path:
    """Where the rejected rows of the outcome file `source` (content hash `sha256`) go.

    The content hash, not the path: the same content is imported once anyway, and an export
    re-delivered from another folder is the same file.
    """
    return settings.zone("quarantine") / "outcomes" / f"{source.stem}-{sha256[:8]}.parquet"


def import_outcome_files(paths: list[Path], settings: Settings) -> OutcomesReport:
    """Import outcome files into staging; quarantine what breaks the contract."""
    report = OutcomesReport()
    ledger_dir = settings.zone("raw") / "outcomes" / "_files"
    for path in paths:
        sha = file_sha256(path)
        ledger = ledger_dir / f"{sha}.json"
        if ledger.exists():
            report.skipped.append(path.name)
            continue
        try:
            raw = read_raw(path.resolve())
            # A file without the column is refused by the contract check just after.
            ids = raw.get_column("declaration_id", default=pl.Series([], dtype=pl.String))
            declarations = staged_declarations(settings, ids)
            valid, rejected = validate_outcomes(raw, declarations)
        except MalformedFileError as error:
            report.rejected_files[path.name] = str(error)
            continue
        quarantine = outcome_quarantine_file(settings, path, sha)
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
