"""The storage layout: partition names, listing and where each table lives."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines import layout
from pipelines.settings import Settings

DAY = date(2026, 3, 1)


def test_a_partition_is_a_hive_date_folder() -> None:
    assert layout.partition_name(DAY) == "date=2026-03-01"
    assert layout.partition(Path("t"), DAY) == Path("t/date=2026-03-01")
    assert layout.partition_date("date=2026-03-01") == DAY
    assert layout.partition_date("date=2026-3-1") is None
    assert layout.partition_date("_files") is None


def test_listing_keeps_date_folders_holding_the_file_oldest_first(tmp_path: Path) -> None:
    for day in ("2026-03-02", "2026-02-28", "2026-03-01"):
        (tmp_path / f"date={day}").mkdir()
        (tmp_path / f"date={day}" / "x.parquet").write_bytes(b"")
    (tmp_path / "date=2026-03-03").mkdir()  # no file: listed as a day, not as a file
    (tmp_path / "_files").mkdir()
    (tmp_path / "date=2026-03-04").write_text("a file, not a partition")
    days = [date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]
    assert layout.partition_days(tmp_path) == [*days, date(2026, 3, 3)]
    assert [d for d, _ in layout.partition_files(tmp_path, "x.parquet")] == days
    assert layout.files_until(tmp_path, "x.parquet", DAY) == [
        tmp_path / "date=2026-02-28" / "x.parquet",
        tmp_path / "date=2026-03-01" / "x.parquet",
    ]
    assert layout.partition_days(tmp_path / "missing") == []
    assert layout.partition_files(tmp_path / "missing", "x.parquet") == []


def test_tables_sit_where_decision_0001_puts_them(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    stamp = "date=2026-03-01"
    assert layout.staged_declarations_file(settings, DAY) == (
        tmp_path / "staging" / "declarations" / stamp / "declarations.parquet"
    )
    assert layout.staged_outcomes_file(settings, DAY) == (
        tmp_path / "staging" / "outcomes" / stamp / "outcomes.parquet"
    )
    assert layout.features_file(settings, DAY) == tmp_path / "features" / stamp / "features.parquet"
    assert layout.snapshot_dir(settings, DAY) == tmp_path / "history" / "snapshots" / stamp
    assert layout.scores_file(settings, DAY) == tmp_path / "scores" / stamp / "scores.parquet"
    assert layout.lists_dir(settings, DAY) == tmp_path / "lists" / stamp
    assert layout.run_report_dir(settings, DAY) == tmp_path / "reports" / "runs" / stamp
    assert layout.raw_declarations(settings) == tmp_path / "raw" / "declarations"
    assert layout.quarantine_declarations(settings) == tmp_path / "quarantine" / "declarations"
