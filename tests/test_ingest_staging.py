"""Landing -> raw (fingerprinted, immutable) -> staging + quarantine for one filing date."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from contracts.reading import read_raw
from pipelines.ingest import ingest_files, ingest_landing
from pipelines.layout import raw_declarations as raw_dir
from pipelines.layout import staged_declarations_file as staging_path
from pipelines.settings import Settings, load_settings
from pipelines.staging import BatchError, stage_declarations, volume_breach

FIXTURES = Path(__file__).parent / "data" / "declarations"
EXPECTED = Path(__file__).parent / "data" / "validate"
DAY = date(2026, 11, 28)
ARRIVED = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, home=tmp_path / "home", max_rejected_share=0.9)


def _land(settings: Settings, name: str) -> Path:
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(FIXTURES / name, landing / name))


def test_a_resent_file_is_not_loaded_twice(settings: Settings) -> None:
    rows = read_raw(_land(settings, "mixed.csv")).height
    first = ingest_landing(settings, now=ARRIVED)
    second = ingest_landing(settings, now=ARRIVED)
    assert first.loaded == {"mixed.csv": rows}
    assert second.loaded == {} and second.skipped == ["mixed.csv"]
    raw_rows = pl.scan_parquet(raw_dir(settings) / "date=*" / "*.parquet").collect()
    assert raw_rows.height == rows
    assert raw_rows["_sha256"].n_unique() == 1


def test_unreadable_file_is_rejected_whole_and_named(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes((FIXTURES / "mixed.csv").read_bytes()[:-40].replace(b"Tools", b"T\xe9ols"))
    report = ingest_files([broken], settings, now=ARRIVED)
    assert list(report.rejected) == ["broken.csv"]
    assert "broken.csv" in report.rejected["broken.csv"]
    assert not any(raw_dir(settings).glob("date=*/*.parquet"))


def test_staging_keeps_good_rows_and_quarantines_bad_ones(settings: Settings) -> None:
    _land(settings, "mixed.csv")
    ingest_landing(settings, now=ARRIVED)
    summary = stage_declarations(settings, DAY)
    staged = pl.read_parquet(staging_path(settings, DAY))
    quarantine = pl.read_parquet(settings.zone("quarantine") / "declarations" / f"date={DAY}")
    assert summary["rows_staged"] == staged.height > 0
    assert summary["rows_rejected"] == quarantine.select("_source_file", "_line").n_unique() > 0
    assert set(staged["_line"]).isdisjoint(set(quarantine["_line"]))
    assert (
        summary["rows_staged"] + summary["rows_rejected"] + summary["amendments_superseded"]
        == (summary["rows_read"])
    )


def test_staged_and_quarantined_rows_are_exactly_the_recorded_ones(settings: Settings) -> None:
    """Every staged and quarantined value of the mixed sample, as the stage first wrote them."""
    _land(settings, "mixed.csv")
    ingest_landing(settings, now=ARRIVED)
    stage_declarations(settings, DAY)
    file_name = pl.col("_source_file").str.split("/").list.last()
    staged = pl.read_parquet(staging_path(settings, DAY)).with_columns(file_name)
    quarantine = pl.read_parquet(
        settings.zone("quarantine") / "declarations" / f"date={DAY}"
    ).with_columns(file_name)
    assert staged.write_ndjson() == (EXPECTED / "mixed_staged.jsonl").read_text()
    assert quarantine.write_ndjson() == (EXPECTED / "mixed_quarantine.jsonl").read_text()


def test_rerun_of_a_date_is_byte_identical(settings: Settings) -> None:
    _land(settings, "mixed.csv")
    ingest_landing(settings, now=ARRIVED)
    stage_declarations(settings, DAY)
    first = staging_path(settings, DAY).read_bytes()
    stage_declarations(settings, DAY)
    assert staging_path(settings, DAY).read_bytes() == first


def test_amendments_latest_filing_wins(settings: Settings) -> None:
    _land(settings, "amendments.csv")
    ingest_landing(settings, now=ARRIVED)
    stage_declarations(settings, DAY)
    staged = pl.read_parquet(staging_path(settings, DAY)).filter(
        pl.col("declaration_id") == "D-0500"
    )
    assert staged["goods_description"].to_list() == ["Latest filing"]


def test_a_file_without_required_columns_stops_the_night(settings: Settings) -> None:
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True)
    frame = pl.read_csv(FIXTURES / "amendments.csv", infer_schema=False).drop("hs_code")
    frame.write_csv(landing / "renamed.csv")
    ingest_landing(settings, now=ARRIVED)
    with pytest.raises(BatchError, match=r"renamed\.csv: schema changed.*hs_code"):
        stage_declarations(settings, DAY)
    assert not staging_path(settings, DAY).exists()


def test_too_many_rejections_stop_the_night_after_quarantine(tmp_path: Path) -> None:
    strict = load_settings(environ={}, home=tmp_path / "home", max_rejected_share=0.01)
    _land(strict, "mixed.csv")
    ingest_landing(strict, now=ARRIVED)
    with pytest.raises(BatchError, match="rows rejected"):
        stage_declarations(strict, DAY)
    assert any((strict.zone("quarantine") / "declarations" / f"date={DAY}").glob("*.parquet"))
    assert not staging_path(strict, DAY).exists()


def test_no_data_for_a_date_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(BatchError, match="no declarations filed on 2026-11-28"):
        stage_declarations(settings, DAY)


@pytest.mark.parametrize(
    ("rows", "breach"), [(100, False), (19, True), (501, True), (21, False), (499, False)]
)
def test_volume_far_outside_the_recent_range_is_a_breach(
    settings: Settings, rows: int, breach: bool
) -> None:
    recent = [90, 100, 110, 100, 95, 105, 100]
    assert (volume_breach(rows, recent, settings) is not None) is breach


def test_volume_is_not_judged_without_enough_history(settings: Settings) -> None:
    assert volume_breach(1, [100, 100], settings) is None


def test_a_remote_landing_source_is_read_through_object_storage(tmp_path: Path) -> None:
    remote = tmp_path / "remote-export"
    remote.mkdir()
    shutil.copy(FIXTURES / "amendments.csv", remote / "amendments.csv")
    settings = load_settings(environ={}, home=tmp_path / "home", landing_uri=f"file://{remote}")
    report = ingest_landing(settings, now=ARRIVED)
    landed = settings.zone("landing") / "declarations" / "amendments.csv"
    assert landed.read_bytes() == (remote / "amendments.csv").read_bytes()
    assert report.loaded == {"amendments.csv": read_raw(landed).height}


def _write_multi_day_csv(path: Path) -> None:
    """Rows filed on three days, one without a readable date, a blank line and a ragged row."""
    lines = (FIXTURES / "amendments.csv").read_text(encoding="utf-8").splitlines()
    header, row = lines[0], lines[1]
    rows = [
        row.replace("2026-11-28T07:00:00Z", "2026-11-27T23:30:00-02:00"),  # 01:30 UTC on the 28th
        row.replace("2026-11-28T07:00:00Z", "2026-11-26T10:00:00Z"),
        "",
        row.replace("2026-11-28T07:00:00Z", "not a time"),
        row.rsplit(",", 3)[0],
        row.replace("2026-11-28T07:00:00Z", "2026-11-27T10:00:00Z"),
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


@pytest.mark.parametrize("open_writers", [32, 1])
def test_ingest_splits_a_file_by_filing_date_keeping_the_exact_readers_rows(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_writers: int
) -> None:
    from contracts import fast_csv
    from contracts.reading import read_csv
    from pipelines import ingest

    # With one writer open, three of the four dates are held and written at the end.
    monkeypatch.setattr(ingest, "MAX_OPEN_WRITERS", open_writers)

    path = tmp_path / "days.csv"
    _write_multi_day_csv(path)
    assert fast_csv.vouch(path) is not None  # blank line and ragged row included
    report = ingest_files([path], settings, now=ARRIVED)
    assert report.dates == {"2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29"}
    raw = pl.read_parquet(raw_dir(settings) / "date=*" / "*.parquet", hive_partitioning=True)
    by_date = dict(raw.group_by("date").len().sort("date").iter_rows())
    # The unreadable time goes to the day the file arrived; the short row keeps its filed_at.
    assert {str(day): rows for day, rows in by_date.items()} == {
        "2026-11-26": 1,
        "2026-11-27": 1,
        "2026-11-28": 2,
        "2026-11-29": 1,
    }
    assert report.loaded == {"days.csv": 5}
    exact = read_csv(path, fast=False)
    written = raw.sort("_line").drop("date", "_sha256", "_ingested_at")
    assert written.to_dicts() == exact.to_dicts()
    assert raw["_line"].sort().to_list() == [2, 3, 5, 6, 7]
    assert raw["_ingested_at"].unique().to_list() == [ARRIVED]


def test_ingest_writes_the_same_raw_columns_on_the_fast_and_exact_paths(
    settings: Settings,
) -> None:
    from contracts import fast_csv

    fast = _land(settings, "amendments.csv")
    exact = fast.with_name("amendments-cr.csv")
    # A lone carriage return in a value: only the exact reader may read it.
    exact.write_bytes(fast.read_bytes().replace(b"Latest filing", b"Latest\rfiling"))
    assert fast_csv.vouch(fast) is not None
    assert fast_csv.vouch(exact) is None
    ingest_landing(settings, now=ARRIVED)
    schemas = {
        path.name: pl.read_parquet_schema(path) for path in raw_dir(settings).glob("date=*/*")
    }
    bookkeeping = ["_source_file", "_line", "_row_error", "_sha256", "_ingested_at"]
    fast_schema, exact_schema = (
        {name: schema[name] for name in bookkeeping} for schema in schemas.values()
    )
    assert len(schemas) == 2 and fast_schema == exact_schema
    assert all(
        dtype == pl.String
        for schema in schemas.values()
        for name, dtype in schema.items()
        if not name.startswith("_")
    )


def _amendment_rows(count: int) -> str:
    lines = (FIXTURES / "amendments.csv").read_text(encoding="utf-8").splitlines()
    row = lines[1]
    return "\n".join([lines[0], *[row.replace("D-0500", f"D-{i:04d}") for i in range(count)]])


def test_a_late_refusal_of_the_fast_path_loads_the_exact_readers_rows(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contracts import fast_csv
    from contracts.reading import read_csv

    # Small reads: the lone carriage return sits chunks after the first batch was written.
    monkeypatch.setattr(fast_csv, "CHUNK_BYTES", 2_000)
    path = tmp_path / "late.csv"
    path.write_text(_amendment_rows(200).replace("D-0150", "D-\r0150") + "\n")
    assert fast_csv.vouch(path) is None
    report = ingest_files([path], settings, now=ARRIVED)
    expected = read_csv(path, fast=False)
    # The csv module ends a line at the lone carriage return: 201 records, two of them ragged.
    assert report.loaded == {"late.csv": expected.height} == {"late.csv": 201}
    raw = pl.read_parquet(raw_dir(settings) / "date=*" / "*.parquet").sort("_line")
    assert raw.drop("_sha256", "_ingested_at").to_dicts() == expected.to_dicts()
    assert report.dates == {"2026-11-28", "2026-11-29"}
    assert len(list(raw_dir(settings).rglob("*.parquet"))) == 2
    assert not list(raw_dir(settings).rglob("*.tmp"))


def test_a_file_refused_after_its_first_batches_leaves_nothing_in_raw(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contracts import fast_csv

    monkeypatch.setattr(fast_csv, "CHUNK_BYTES", 2_000)
    path = tmp_path / "cut.csv"
    rows = _amendment_rows(200).encode()
    path.write_bytes(rows + b'\nD-9999,1,"2026-11-28T07:00:00Z,sea')  # cut inside a quote
    report = ingest_files([path], settings, now=ARRIVED)
    assert "cut.csv:202: cannot be parsed as CSV" in report.rejected["cut.csv"]
    assert not list(raw_dir(settings).rglob("*.parquet"))
    assert not list(raw_dir(settings).rglob("*.tmp"))


def test_filing_dates_of_a_streamed_file_are_those_of_the_whole_file(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contracts import fast_csv
    from contracts.reading import read_csv
    from pipelines.ingest import filing_dates

    # Polars infers one timestamp format from the first readable value: a naive first filed_at
    # makes every `Z` value unreadable, in every batch, as when the file is read whole.
    monkeypatch.setattr(fast_csv, "CHUNK_BYTES", 2_000)
    path = tmp_path / "formats.csv"
    path.write_text(_amendment_rows(60).replace("2026-11-28T07:00:00Z", "2026-11-27T07:00:00", 1))
    whole = filing_dates(read_csv(path, fast=False), ARRIVED.date()).value_counts()
    report = ingest_files([path], settings, now=ARRIVED)
    assert {day: rows for day, rows in whole.iter_rows()} == {"2026-11-27": 1, "2026-11-29": 59}
    raw = pl.read_parquet(raw_dir(settings) / "date=*" / "*.parquet", hive_partitioning=True)
    assert dict(raw.group_by(pl.col("date").cast(pl.String)).len().iter_rows()) == dict(
        whole.iter_rows()
    )
    assert report.dates == {"2026-11-27", "2026-11-29"}
