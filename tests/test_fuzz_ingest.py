"""Bad-input generator: thousands of mutated rows in mutated files through ingest and staging.

With a fixed seed, good rows get nasty cells (huge and tiny numbers, NUL, bytes that are not
UTF-8, 70,000-character cells, quotes, newlines, far dates, formula text) and whole files get
nasty structure (CRLF, BOM, blank lines, a cut-off end, a stray quote, JSON Lines with broken
lines). Nothing may raise; every row that reached raw ends up staged, quarantined with a one-line
reason, or superseded by a later filing of its key; a file refused whole says why in one line;
and every staged date featurizes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines import nightly
from pipelines.layout import quarantine_declarations as quarantine_dir
from pipelines.layout import raw_declarations as raw_dir
from pipelines.layout import staged_declarations as staging_dir
from pipelines.settings import load_settings
from pipelines.staging import ingest_and_stage

FIXTURES = Path(__file__).parent / "data" / "declarations"
SEED = 14
FILES = 24
ROWS_PER_FILE = 125
ARRIVED = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
NASTY_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "-0",
    "4611686018427387904",
    "9" * 40,
    "5e-324",
    "1e-300",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "1_000",
    "١٢٣",
    "\x00",
    "a\x00b",
    '=HYPERLINK("http://x")',
    '"',
    '""quoted""',
    "line\nbreak",
    "\r",
    "😀" * 3,
    "\u202eevil",
    "|||",
    "SGSIN||lkcmb|",
    "XXXXX",
    "1970-01-01T00:00:00Z",
    "2999-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-28T23:59:60Z",
    "2026-11-28",
    "2026-11-28T08:15:00",
    "2026-11-27T23:59:59+14:00",
    "NaT",
    "null",
]
HUGE = "x" * 70_000
BAD_BYTES = [b"\xe9", b"\xff", b"\xc3(", b"\x00", b"\xef\xbb\xbf"]


def _template() -> dict[str, str]:
    with (FIXTURES / "mixed.csv").open(encoding="utf-8", newline="") as handle:
        return next(csv.DictReader(handle))


def _rows(rng: random.Random, number: int) -> list[dict[str, str]]:
    template = _template()
    rows = []
    for i in range(ROWS_PER_FILE):
        row = {**template, "declaration_id": f"F{number:02d}-{i:04d}"}
        row["filed_at"] = f"2026-11-28T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
        if rng.random() < 0.5:
            for name in rng.sample(list(row), rng.randint(1, 3)):
                row[name] = HUGE if rng.random() < 0.01 else rng.choice(NASTY_TEXT)
        rows.append(row)
    return rows


def _csv(rows: list[dict[str, str]], line_end: str, quoting: int) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator=line_end, quoting=quoting)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _with_bad_bytes(rng: random.Random, data: bytes, count: int) -> bytes:
    """Put raw bytes that are not UTF-8 (or NUL, or a BOM) inside letters of data rows."""
    body_start = data.index(b"\n") + 1
    out = bytearray(data)
    for _ in range(count):
        at = rng.randrange(body_start, len(out))
        if chr(out[at]).isalpha():
            out[at : at + 1] = rng.choice(BAD_BYTES)
    return bytes(out)


def _file(rng: random.Random, folder: Path, number: int) -> tuple[Path, bool]:
    """One mutated file, and whether its records are still exactly the generated rows."""
    rows = _rows(rng, number)
    kind = rng.choice(["plain", "crlf", "bom", "blank", "bytes", "cut", "quote", "jsonl"])
    intact = kind in ("plain", "crlf", "bom", "blank", "bytes", "jsonl")
    if kind == "jsonl":
        lines = [json.dumps(row).encode() for row in rows]
        for at in rng.sample(range(len(lines)), 5):
            lines[at] = lines[at][: rng.randrange(1, len(lines[at]))]  # broken JSON lines
        path = folder / f"night_{number:02d}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        return path, intact
    quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
    data = _csv(rows, "\r\n" if kind == "crlf" else "\n", quoting)
    if quoting == csv.QUOTE_MINIMAL and any("\r" in v for row in rows for v in row.values()):
        # The writer leaves a lone CR unquoted under "\n" line ends: a record boundary to any
        # reader, so the file holds other records than the generated rows.
        intact = False
    if kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "blank":
        data = data.replace(b"\n", b"\n\n", 7)
    elif kind == "bytes":
        data = _with_bad_bytes(rng, data, 12)
    elif kind == "cut":
        data = data[: rng.randrange(len(data) // 2, len(data))]
    elif kind == "quote":
        at = rng.randrange(data.index(b"\n") + 1, len(data))
        data = data[:at] + b'"' + data[at:]
    path = folder / f"night_{number:02d}.csv"
    path.write_bytes(data)
    return path, intact


@pytest.mark.slow  # about 40 s on 2 cores
def test_thousands_of_mutated_rows_are_each_staged_or_quarantined(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    settings = load_settings(environ={}, home=tmp_path / "home", max_rejected_share=1.0)
    folder = tmp_path / "landing"
    folder.mkdir()
    files = [_file(rng, folder, number) for number in range(FILES)]
    report, staged = ingest_and_stage([path for path, _ in files], settings, now=ARRIVED)

    # Files refused whole say why in one line naming the file; intact files lose no record.
    assert set(report.loaded) | set(report.rejected) == {path.name for path, _ in files}
    for name, why in report.rejected.items():
        assert name in why and "\n" not in why
    for path, intact in files:
        if intact:
            assert report.loaded.get(path.name) == ROWS_PER_FILE, path.name
    assert not [why for why in staged.values() if not isinstance(why, dict)]

    raw = pl.read_parquet(raw_dir(settings) / "date=*" / "*.parquet").select(
        "_source_file", "_line", "declaration_id", "item_no"
    )
    assert raw.height == sum(report.loaded.values())
    assert raw.height > FILES * ROWS_PER_FILE / 2
    kept = pl.read_parquet(staging_dir(settings) / "date=*" / "*.parquet")
    rejected = pl.read_parquet(quarantine_dir(settings) / "date=*" / "*.parquet")
    assert not rejected["reason"].str.contains("\n").any()
    where = ["_source_file", "_line"]
    accounted = pl.concat([kept.select(where), rejected.select(where).unique()])
    assert accounted.height == accounted.n_unique(), "a row both staged and quarantined"
    missing = raw.join(accounted, on=where, how="anti")
    # A row neither staged nor quarantined must be an earlier filing of a key staged later.
    staged_keys = kept.select(pl.col("declaration_id"), pl.col("item_no").cast(pl.String)).unique()
    superseded = missing.with_columns(
        pl.col("declaration_id").str.strip_chars(), pl.col("item_no").str.strip_chars()
    ).join(staged_keys, on=["declaration_id", "item_no"], how="semi")
    assert superseded.height == missing.height, missing.head(5)
    assert kept.height > 0 and rejected.select(where).n_unique() > 0
    assert report.rejected, "no file was refused whole: the generator lost its structural faults"

    # Every staged date goes through featurize: the bounds hold what later stages compute.
    for day, summary in sorted(staged.items()):
        assert isinstance(day, date) and isinstance(summary, dict)
        assert nightly.featurize(settings, day)["rows"] == summary["rows_staged"]
