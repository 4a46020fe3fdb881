"""Ingest stage: landing -> raw. Grain of raw: one row per row received, all values as strings.

Every landing file is fingerprinted (SHA-256). A file whose fingerprint was loaded before is
skipped, so a re-sent file is never loaded twice. Rows are split by the UTC date of their `filed_at`
(parsed leniently; rows whose date cannot be read go to the day of arrival, whose validation then
rejects them) and written as `raw/declarations/date=D/<sha256>.parquet`, with the source file, line,
fingerprint and ingest time on every row. Raw is immutable: nothing rewrites a raw file.

The landing source is a folder by default. Any other URI (`s3://…`, `sftp://…`, `file://…`) is read
through Airflow's ObjectStoragePath with the configured Connection; its files are first copied into
the landing zone as delivered, so landing always holds what was received.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from contracts.declarations import EARLIEST_FILING
from contracts.fast_csv import UnvouchedError
from contracts.reading import MalformedFileError, read_raw_batches
from pipelines import layout
from pipelines.io import atomic_path, file_sha256, write_text
from pipelines.progress import QUIET, Steps
from pipelines.settings import Settings

DECLARATION_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
FILING_DATE = "_filing_date"
MAX_OPEN_WRITERS = 32
"""Raw files written at once while streaming; a nightly file touches a handful of dates."""


@dataclass
class IngestReport:
    """What one ingest did, file by file."""

    loaded: dict[str, int] = field(default_factory=dict)
    """File name -> rows written to raw."""
    skipped: list[str] = field(default_factory=list)
    """Files whose fingerprint was loaded before."""
    rejected: dict[str, str] = field(default_factory=dict)
    """File name -> the one-line reason it could not be read at all."""
    dates: set[str] = field(default_factory=set)
    """Partitions (filing dates) that received rows."""

    def as_dict(self) -> dict[str, object]:
        """A small summary for logs and XCom."""
        return {
            "loaded": self.loaded,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "dates": sorted(self.dates),
        }


def _ledger_dir(settings: Settings) -> Path:
    return layout.raw_declarations(settings) / "_files"


def landing_files(settings: Settings) -> list[Path]:
    """Declaration files waiting in the landing zone, after fetching any remote source."""
    landing = settings.zone("landing") / "declarations"
    if settings.landing_uri:
        fetch_remote(settings.landing_uri, settings.landing_conn_id, landing)
    if not landing.exists():
        return []
    return sorted(p for p in landing.iterdir() if p.suffix.lower() in DECLARATION_SUFFIXES)


def fetch_remote(uri: str, conn_id: str | None, landing: Path) -> list[Path]:
    """Copy files from object storage or SFTP into the landing folder, unchanged.

    Airflow is imported here only: the CLI on a local folder never needs it.
    """
    from airflow.sdk import ObjectStoragePath

    source = ObjectStoragePath(uri, conn_id=conn_id) if conn_id else ObjectStoragePath(uri)
    landing.mkdir(parents=True, exist_ok=True)
    fetched = []
    for remote in sorted(source.iterdir(), key=lambda p: p.name):
        if not remote.is_file() or Path(remote.name).suffix.lower() not in DECLARATION_SUFFIXES:
            continue
        target = landing / remote.name
        if target.exists():
            continue
        with atomic_path(target) as tmp:
            tmp.write_bytes(remote.read_bytes())
        fetched.append(target)
    return fetched


def filing_dates(raw: pl.DataFrame, fallback: date) -> pl.Series:
    """The UTC date of each row's `filed_at` as text, or `fallback` where it cannot be read.

    Rows without a readable date land in the partition of the day they arrived, whose validation
    then quarantines them with the reason.
    """
    return FilingDates(fallback)(raw)


class FilingDates:
    """`filing_dates` batch by batch, giving what it gives on the whole file at once.

    Polars infers the timestamp format from the first value it can read and parses every value
    with it, so a batch on its own could infer another format than its file. Each batch is
    therefore parsed behind the file's first readable value.
    """

    def __init__(
        self, fallback: date, future_days: int | None = None, *, arrived: date | None = None
    ) -> None:
        self.fallback = fallback
        self.lead = pl.Series("filed_at", [], pl.String())
        # A date validation will refuse anyway (before 2000, or beyond the future tolerance)
        # goes to the fallback day, so tonight's quarantine shows it instead of a far-off
        # partition that no night may ever validate.
        self.earliest = EARLIEST_FILING.date()
        base = arrived or fallback
        self.latest = None if future_days is None else base + timedelta(days=future_days)

    def __call__(self, batch: pl.DataFrame) -> pl.Series:
        """The filing dates of `batch` (the file's next rows), named `_filing_date`."""
        if "filed_at" not in batch.columns:
            return pl.repeat(self.fallback.isoformat(), batch.height, eager=True).alias(FILING_DATE)
        text = pl.concat([self.lead, batch["filed_at"].str.strip_chars()])
        parsed = text.str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        if self.lead.is_empty() and parsed.is_not_null().any():
            self.lead = text.filter(parsed.is_not_null()).head(1)
        days = parsed.slice(text.len() - batch.height).dt.date()
        plausible = days >= self.earliest
        if self.latest is not None:
            plausible &= days <= self.latest
        days = pl.select(pl.when(plausible).then(days)).to_series()
        return days.cast(pl.String).fill_null(self.fallback.isoformat()).alias(FILING_DATE)


def ingest_files(
    paths: list[Path],
    settings: Settings,
    *,
    now: datetime | None = None,
    fallback_day: date | None = None,
    steps: Steps = QUIET,
) -> IngestReport:
    """Load files into raw; skip files loaded before; reject unreadable files whole.

    Rows without a plausible filing date go to `fallback_day` (the night's date, so tonight's
    quarantine shows them), else to the day of arrival. `steps` hears of each file.
    """
    report = IngestReport()
    ingested_at = now or datetime.now(UTC)
    dating = Dating(fallback_day or ingested_at.date(), ingested_at, settings.future_tolerance_days)
    steps.phase("loading files into raw", len(paths))
    for path in paths:
        steps.step(path.name)
        sha = file_sha256(path)
        ledger = _ledger_dir(settings) / f"{sha}.json"
        if ledger.exists():
            report.skipped.append(path.name)
            continue
        try:
            rows_by_date = _load(path, layout.raw_declarations(settings), sha, dating)
        except MalformedFileError as error:
            report.rejected[path.name] = str(error)
            _record(ledger, path, sha, ingested_at, status="rejected", reason=str(error))
            continue
        report.dates.update(rows_by_date)
        report.loaded[path.name] = sum(rows_by_date.values())
        _record(ledger, path, sha, ingested_at, status="loaded", rows=rows_by_date)
    return report


@dataclass(frozen=True)
class Dating:
    """How one ingest dates rows: when they arrived, and where rows of no plausible date go."""

    fallback: date
    ingested_at: datetime
    future_days: int | None = None


def _load(path: Path, folder: Path, sha: str, dating: Dating) -> dict[str, int]:
    """Write one landing file's rows to raw, by filing date; rows written per date."""
    try:
        return _write_by_date(read_raw_batches(path), folder, sha, dating)
    except UnvouchedError:
        # The fast CSV path stepped aside part-way; nothing it wrote was moved into place.
        return _write_by_date(read_raw_batches(path, fast=False), folder, sha, dating)


def _write_by_date(
    batches: Iterator[pl.DataFrame], folder: Path, sha: str, dating: Dating
) -> dict[str, int]:
    """Stream batches into `folder/date=D/<sha>.parquet`, one file per filing date.

    Each batch is split by date and appended to that date's file as it comes, so a CSV file on
    the fast path is never held whole (at a million rows that frame alone is over half a
    gigabyte); other files, and CSV files the exact reader takes, come as one batch. A
    history file touching more than `MAX_OPEN_WRITERS` dates keeps the rows of the further dates
    in memory and writes them at the end, one file open at a time. The files are moved into place
    only when every batch is written: an error leaves none behind.
    """
    rows_by_date: dict[str, int] = {}
    held: dict[str, list[pa.Table]] = {}
    ingested_at = dating.ingested_at
    filing_dates_of = FilingDates(
        dating.fallback, dating.future_days, arrived=dating.ingested_at.date()
    )
    with ExitStack() as files, ThreadPoolExecutor(max_workers=1) as encoder:
        writers: dict[str, pq.ParquetWriter] = {}
        # Encoding (zstd) runs beside the next batch's parsing, with two writes queued at most.
        pending: deque[Future[None]] = deque()
        for batch in batches:
            dated = batch.with_columns(
                pl.lit(sha).alias("_sha256"),
                pl.lit(ingested_at).dt.replace_time_zone("UTC").alias("_ingested_at"),
                filing_dates_of(batch),
            )
            for day_text, part in _by_date(dated):
                table = part.to_arrow()
                rows_by_date[day_text] = rows_by_date.get(day_text, 0) + part.height
                if day_text not in writers and len(writers) >= MAX_OPEN_WRITERS:
                    held.setdefault(day_text, []).append(table)
                    continue
                if day_text not in writers:
                    tmp = files.enter_context(atomic_path(_raw_file(folder, day_text, sha)))
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    writers[day_text] = files.enter_context(writer)
                pending.append(encoder.submit(writers[day_text].write_table, table))
            while len(pending) > 2:
                pending.popleft().result()
        while pending:
            pending.popleft().result()
        for day_text, tables in held.items():
            tmp = files.enter_context(atomic_path(_raw_file(folder, day_text, sha)))
            with pq.ParquetWriter(tmp, tables[0].schema, compression="zstd") as writer:
                for table in tables:
                    writer.write_table(table)
    return rows_by_date


def _raw_file(folder: Path, day_text: str, sha: str) -> Path:
    return folder / f"{layout.PARTITION_KEY}={day_text}" / f"{sha}.parquet"


def _by_date(dated: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """A batch's rows per filing date, in order of appearance, without the date column."""
    days = dated[FILING_DATE]
    if days.n_unique() == 1:
        # Nearly every batch of a night holds one date: no need to copy it into groups.
        return [(str(days[0]), dated.drop(FILING_DATE))]
    groups = dated.group_by(FILING_DATE, maintain_order=True)
    return [(str(day), part.drop(FILING_DATE)) for (day,), part in groups]


def _record(
    ledger: Path,
    path: Path,
    sha: str,
    ingested_at: datetime,
    *,
    status: str,
    reason: str | None = None,
    rows: dict[str, int] | None = None,
) -> None:
    entry = {
        "file": path.name,
        "sha256": sha,
        "ingested_at": ingested_at.isoformat(),
        "status": status,
        "reason": reason,
        "rows_by_date": rows or {},
    }
    write_text(json.dumps(entry, indent=2, sort_keys=True), ledger)


def ingest_landing(
    settings: Settings, *, now: datetime | None = None, night: date | None = None
) -> IngestReport:
    """Load every new file of the landing zone (the nightly ingest task of `night`)."""
    return ingest_files(landing_files(settings), settings, now=now, fallback_day=night)


def raw_files(settings: Settings, day: date) -> list[Path]:
    """The raw files holding rows filed on `day`, in name order."""
    folder = layout.partition(layout.raw_declarations(settings), day)
    return sorted(folder.glob("*.parquet")) if folder.exists() else []


def raw_partition(settings: Settings, day: date) -> pl.DataFrame | None:
    """Every raw row filed on `day` (all files), in a stable order, or None when there are none."""
    return read_raw_files(raw_files(settings, day))


def read_raw_files(files: list[Path]) -> pl.DataFrame | None:
    """The rows of a date's raw files (name order) as `raw_partition` gives them."""
    if not files:
        return None
    frames = [pl.read_parquet(f) for f in files]
    # One raw file holds one landing file's rows (one source, one ingest time) written in line
    # order: sorting it again would copy every column for nothing (0.5 s at 1 M rows).
    if len(frames) == 1 and frames[0].get_column("_line").is_sorted():
        return frames[0]
    return pl.concat(frames, how="diagonal_relaxed").sort("_ingested_at", "_source_file", "_line")
