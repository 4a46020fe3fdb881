"""The fault suite of issue 14: each fault found in review, as a test that would see it return.

Bad rows and bad cells (items 1, 3), dates (5), same-named files (4), late rows (2), run locks
(12), crash leftovers and the partition swap (11), watch lists (13) and operator messages (14).
A night's stages run for real on small files; no model is needed before featurize.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import polars.selectors as cs
import pytest

from pipelines import nightly
from pipelines.ingest import ingest_files
from pipelines.io import atomic_directory, sweep_leftovers
from pipelines.layout import quarantine_declarations as quarantine_dir
from pipelines.layout import raw_declarations as raw_dir
from pipelines.layout import staged_declarations_file as staging_path
from pipelines.locks import RunLockedError, date_lock_name, lock_path, run_lock
from pipelines.settings import Settings, load_settings
from pipelines.staging import ingest_and_stage, stage_declarations

FIXTURES = Path(__file__).parent / "data" / "declarations"
DAY = date(2026, 11, 28)
ARRIVED = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, home=tmp_path / "home", max_rejected_share=0.5)


def good_rows(
    count: int, prefix: str = "G", filed: str = "2026-11-28T08:15:00Z"
) -> list[dict[str, str]]:
    """`count` valid rows (the fixture's first row with unique keys), filed at `filed`."""
    with (FIXTURES / "mixed.csv").open(encoding="utf-8", newline="") as handle:
        template = next(csv.DictReader(handle))
    return [
        {**template, "declaration_id": f"{prefix}-{i:05d}", "filed_at": filed} for i in range(count)
    ]


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _quarantine(settings: Settings, day: date) -> pl.DataFrame:
    return pl.read_parquet(quarantine_dir(settings) / f"date={day}")


def test_rows_later_stages_cannot_hold_are_quarantined_and_the_rest_is_featurized(
    settings: Settings, tmp_path: Path
) -> None:
    """Item 1: these rows passed validation and then stopped featurize for every port."""
    rows = good_rows(40)
    extremes = {
        "packages": {"packages": "4611686018427387904"},
        "gross_mass_kg": {"gross_mass_kg": "5e-324"},
        "declared_value": {"declared_value": "1e308", "gross_mass_kg": "1e-300"},
    }
    for offset, change in enumerate(extremes.values()):
        rows[10 + offset].update(change)
    path = tmp_path / "night.csv"
    path.write_bytes(csv_bytes(rows))
    report, staged = ingest_and_stage([path], settings, now=ARRIVED)
    assert report.loaded == {"night.csv": 40}
    summary = staged[DAY]
    assert isinstance(summary, dict)
    assert summary["rows_staged"] == 37
    rejected = _quarantine(settings, DAY)
    assert sorted(rejected["_line"].unique()) == [12, 13, 14]
    assert set(rejected["field"]) == set(extremes)
    assert rejected["reason"].str.starts_with("must be").all()
    featurized = nightly.featurize(settings, DAY)
    assert featurized["rows"] == 37


def test_rows_at_every_bound_pass_featurize(settings: Settings, tmp_path: Path) -> None:
    """The bounds are what later stages hold: rows on them are staged and featurized."""
    rows = good_rows(4)
    rows[0].update(packages="1000000000", gross_mass_kg="0.001", declared_value="1e15")
    rows[1].update(packages="1", gross_mass_kg="1e9", declared_value="0")
    rows[2].update(item_no="99999", shipper_name="N" * 256, consignee_id="C" * 64)
    path = tmp_path / "bounds.csv"
    path.write_bytes(csv_bytes(rows))
    _, staged = ingest_and_stage([path], settings, now=ARRIVED)
    assert staged[DAY]["rows_staged"] == 4  # type: ignore[index]
    features = pl.read_parquet(nightly.featurize(settings, DAY)["features"])
    numeric = features.select(cs.float())
    assert numeric.select(pl.all().is_infinite().any()).row(0) == (False,) * numeric.width


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (b"x" * 200_000, "has 200000 characters"),
        (b"Caf\x00e", "contains a NUL byte"),
        (b"Caf\xe9", "is not valid UTF-8 (byte 0xe9)"),
    ],
    ids=["200KB cell", "NUL byte", "latin-1 byte"],
)
def test_one_bad_cell_rejects_its_row_and_keeps_the_file(
    settings: Settings, tmp_path: Path, cell: bytes, reason: str
) -> None:
    """Item 3: one bad cell used to reject every row of the night's file."""
    data = csv_bytes(good_rows(300))
    marker = b"Shanghai Tools Co"
    lines = data.split(b"\n")
    lines[151] = lines[151].replace(marker, cell, 1)  # the record on line 152
    path = tmp_path / "night.csv"
    path.write_bytes(b"\n".join(lines))
    report, staged = ingest_and_stage([path], settings, now=ARRIVED)
    assert report.rejected == {}
    assert staged[DAY]["rows_staged"] == 299  # type: ignore[index]
    rejected = _quarantine(settings, DAY)
    assert set(rejected["_line"]) == {152}
    row_reason = rejected.filter(pl.col("field") == "_row")["reason"].to_list()
    assert len(row_reason) == 1
    assert reason in row_reason[0] and "shipper_name" in row_reason[0]


def test_a_bad_jsonl_line_rejects_its_row_only(settings: Settings, tmp_path: Path) -> None:
    rows = good_rows(5)
    lines = [pl.DataFrame([row]).write_ndjson().strip().encode() for row in rows]
    lines[2] = b'{"declaration_id": "G-00002", "item_no": '
    lines[3] = lines[3].replace(b"Tools", b"T\xe9ols")
    path = tmp_path / "night.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _, staged = ingest_and_stage([path], settings, now=ARRIVED)
    assert staged[DAY]["rows_staged"] == 3  # type: ignore[index]
    # A line that cannot be read has no filing date: it goes to the day it arrived.
    rejected = _quarantine(settings, ARRIVED.date()).filter(pl.col("field") == "_row")
    assert rejected["_line"].to_list() == [3, 4]
    assert rejected["reason"].to_list()[0].startswith("not valid JSON")
    assert "not valid UTF-8" in rejected["reason"].to_list()[1]


def test_same_named_files_from_two_folders_keep_their_own_quarantine(
    settings: Settings, tmp_path: Path
) -> None:
    """Item 4: the table counted both files' rejects, the zone kept one file's."""
    paths = []
    for folder, bad_lines in (("a", (3,)), ("b", (4, 5))):
        rows = good_rows(6, prefix=folder)
        for line in bad_lines:
            rows[line - 2]["packages"] = "0"
        path = tmp_path / folder / "day.csv"
        path.parent.mkdir()
        path.write_bytes(csv_bytes(rows))
        paths.append(path)
    _, staged = ingest_and_stage(paths, settings, now=ARRIVED)
    assert staged[DAY]["rows_rejected"] == 3  # type: ignore[index]
    files = sorted((quarantine_dir(settings) / f"date={DAY}").glob("*.parquet"))
    assert len(files) == 2
    assert all(f.name.startswith("day-") for f in files)
    rejected = _quarantine(settings, DAY)
    by_file = rejected.group_by("_source_file").agg(pl.col("_line").sort())
    assert sorted(by_file.rows()) == [(str(paths[0]), [3]), (str(paths[1]), [4, 5])]


def test_future_and_ancient_filings_are_quarantined_on_arrival(
    settings: Settings, tmp_path: Path
) -> None:
    """Item 5: future rows were staged when their date came; 1970-01-01 was accepted."""
    rows = good_rows(5)
    rows[1]["filed_at"] = "2026-12-05T10:00:00Z"
    rows[2]["filed_at"] = "1970-01-01T00:00:00Z"
    path = tmp_path / "night.csv"
    path.write_bytes(csv_bytes(rows))
    report, staged = ingest_and_stage([path], settings, now=ARRIVED)
    arrival = ARRIVED.date()
    assert report.dates == {DAY.isoformat(), arrival.isoformat()}
    assert staged[DAY]["rows_staged"] == 3  # type: ignore[index]
    rejected = _quarantine(settings, arrival)
    assert sorted(rejected.select("_line", "field", "rule").rows()) == [
        (3, "filed_at", "not_future"),
        (4, "filed_at", "plausible"),
    ]
    assert not staging_path(settings, arrival).exists()


def test_a_row_filed_beyond_the_tolerance_stays_refused_when_its_date_comes(
    settings: Settings, tmp_path: Path
) -> None:
    """Each row is judged against its own arrival, not the latest arrival of its partition."""
    early = tmp_path / "early.csv"
    early.write_bytes(csv_bytes(good_rows(2, prefix="E", filed="2026-11-30T02:00:00Z")))
    ingest_files([early], settings, now=ARRIVED)
    on_time = tmp_path / "on_time.csv"
    on_time.write_bytes(csv_bytes(good_rows(3, prefix="T", filed="2026-11-30T08:00:00Z")))
    ingest_files([on_time], settings, now=ARRIVED + timedelta(days=1, hours=23))
    summary = stage_declarations(settings, date(2026, 11, 30))
    assert summary["rows_staged"] == 3
    assert summary["rows_rejected"] == 2


def _night_file(settings: Settings, name: str, rows: list[dict[str, str]]) -> Path:
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / name
    path.write_bytes(csv_bytes(rows))
    return path


def test_late_rows_are_staged_into_their_date_and_reported(settings: Settings) -> None:
    """Item 2: rows filed on D-1 in the file for D reached raw and were never staged."""
    night = DAY + timedelta(days=1)
    rows = good_rows(6, filed=f"{night}T06:00:00Z") + good_rows(2, "LATE", f"{DAY}T22:00:00Z")
    _night_file(settings, f"declarations_{night}.csv", rows)
    nightly.ingest(settings, night)
    summary = nightly.validate(settings, night)
    assert summary["rows_staged"] == 6
    assert summary["late"] == {
        DAY.isoformat(): {"rows_read": 2, "rows_staged": 2, "rows_rejected": 0}
    }
    late = pl.read_parquet(staging_path(settings, DAY))
    assert sorted(late["declaration_id"]) == ["LATE-00000", "LATE-00001"]
    # No list was ever published for D-1, so there is none to correct; the report says so.
    assert nightly.republish_late(settings, night) == {
        DAY.isoformat(): "2 rows staged; no list to republish"
    }
    from pipelines.report import render_run_report

    text = render_run_report(night, nightly.read_stage_reports(settings, night))
    assert f"late rows filed on {DAY}: that date validated again, 2 staged" in text


HOLD = """
import sys, time
from pathlib import Path
from pipelines.locks import run_lock
from pipelines.settings import load_settings
with run_lock(load_settings(environ={}, home=Path(sys.argv[1])), sys.argv[2]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_run_of_a_date_is_refused_with_the_holder_named(settings: Settings) -> None:
    """Item 12: two runs of one date at once had no lock."""
    name = date_lock_name(DAY)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(settings.home), name], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError) as caught:
            nightly.validate(settings, DAY)
        message = str(caught.value)
        assert f"pid {holder.pid}" in message and str(lock_path(settings, name)) in message
        assert "\n" not in message
    finally:
        holder.kill()  # as kill -9: the kernel drops the lock with the process
        holder.communicate()
    with run_lock(settings, name) as taken:
        assert taken
        with run_lock(settings, name) as again:
            assert not again  # re-entrant in one process: a night's stages share its lock


def test_a_partition_is_never_missing_while_it_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 11: a kill between the two renames left the date's folder missing."""
    import pipelines.io as io_module

    target = tmp_path / "lists" / "date=2026-11-28"
    target.mkdir(parents=True)
    (target / "ranked_list.csv").write_text("old\n")
    present: list[bool] = []
    real_replace, real_exchange = os.replace, io_module.exchange

    def watching_replace(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        present.append(target.is_dir())

    def watching_exchange(first: Path, second: Path) -> bool:
        swapped = real_exchange(first, second)
        present.append(target.is_dir())
        return swapped

    monkeypatch.setattr("pipelines.io.os.replace", watching_replace)
    monkeypatch.setattr("pipelines.io.exchange", watching_exchange)
    with atomic_directory(target) as tmp:
        (tmp / "ranked_list.csv").write_text("new\n")
    assert (target / "ranked_list.csv").read_text() == "new\n"
    assert present == [True]  # one exchange; after every step the partition was there
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_a_folder_renamed_aside_by_a_crash_is_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file system cannot exchange names, the next write restores the old folder."""
    target = tmp_path / "features" / "date=2026-11-28"
    target.mkdir(parents=True)
    (target / "features.parquet").write_text("old")
    monkeypatch.setattr("pipelines.io.exchange", lambda *_: False)
    calls = {"n": 0}
    real_replace = os.replace

    def killed_on_second(src: str | Path, dst: str | Path) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed between the two renames")
        real_replace(src, dst)

    monkeypatch.setattr("pipelines.io.os.replace", killed_on_second)
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as tmp:
        (tmp / "features.parquet").write_text("new")
    monkeypatch.setattr("pipelines.io.os.replace", real_replace)
    assert not target.exists()
    assert sweep_leftovers(target.parent) == []
    assert (target / "features.parquet").read_text() == "old"


def test_a_killed_runs_leftovers_are_cleared_by_the_next_run(settings: Settings) -> None:
    """Item 11: after kill -9, temporary files and folders stayed forever."""
    day = f"date={DAY}"
    lists = settings.zone("lists")
    (lists / day).mkdir(parents=True)
    (lists / day / "ranked_list.csv").write_text("kept\n")
    leftovers = [
        lists / day / ".ranked_list.csv.abc123.tmp",
        lists / f".{day}.x1y2z3.tmp" / "ranked_list.csv",
        settings.zone("scores") / f".{day}.old" / "scores.parquet",
        settings.zone("features") / day / ".features.parquet.q9.tmp",
    ]
    other_day = settings.zone("scores") / "date=2026-11-20"
    stale = other_day / ".scores.parquet.old1.tmp"
    fresh = other_day / ".scores.parquet.live.tmp"
    for path in [*leftovers, stale, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    long_ago = time.time() - 2 * nightly.STALE_SECONDS
    os.utime(stale, (long_ago, long_ago))
    with nightly.date_run(settings, DAY):
        pass
    hidden = [p for p in settings.home.rglob(".*") if "locks" not in p.parts]
    assert hidden == [fresh]  # another date's file this young may belong to a live run
    assert (lists / day / "ranked_list.csv").read_text() == "kept\n"


def test_a_night_without_a_watch_list_stops_and_says_how_to_load_one(settings: Settings) -> None:
    """Item 13: a home without lists screened against nothing and reported 0 hits."""
    with pytest.raises(nightly.NoWatchlistError) as caught:
        nightly.lists_in_force(settings)
    assert "cargo-risk watchlists load-shipped" in str(caught.value)
    from pipelines.watchlists.shipped import load_shipped

    load_shipped(settings)
    versions = nightly.lists_in_force(settings)
    assert versions["un"] == "2024-09-26"
    from pipelines.report import render_run_report

    text = render_run_report(DAY, {"score": {"rows": 1, "watchlists": versions}})
    assert "- screened against: " in text and "un 2024-09-26" in text


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from pipelines.cli import main

    old = sys.argv
    sys.argv = ["cargo-risk", *argv]
    try:
        with pytest.raises(SystemExit) as ended:
            main()
    finally:
        sys.argv = old
    return int(ended.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "cause"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
)
def test_disk_full_or_read_only_ends_in_one_line_naming_path_and_cause(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
    cause: str,
) -> None:
    """Item 14: these ended in a 50-line traceback."""
    path = settings.home.parent / "night.csv"
    path.write_bytes(csv_bytes(good_rows(3)))
    target = raw_dir(settings) / f"date={DAY}"

    def refuse(*_: object, **__: object) -> None:
        raise OSError(code, cause, str(target))

    monkeypatch.setattr("pipelines.ingest.atomic_path", refuse)
    status, err = _main(["--home", str(settings.home), "ingest", str(path)], capsys)
    assert status == 1
    assert err.strip().count("\n") == 0
    assert err.startswith(f"error: {target}: {cause}; ")


def test_a_missing_feed_ends_in_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = _main(["--home", str(settings.home), "run", "--date", str(DAY)], capsys)
    assert status == 1
    assert err.strip() == f"error: no declarations filed on {DAY} reached raw: nothing to validate"


def test_log_output_keeps_long_file_names_whole(settings: Settings, tmp_path: Path) -> None:
    """Item 14: tables were cut at 80 columns when output was not a terminal."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    name = "a_rather_long_delivery_name_from_the_national_export_" + "x" * 60 + ".csv"
    broken = tmp_path / name
    broken.write_bytes(csv_bytes(good_rows(2)).replace(b"declaration_id,", b"declaration,", 1))
    done = CliRunner().invoke(app, ["--home", str(settings.home), "ingest", str(broken)])
    assert done.exit_code == 1
    line = next(line for line in done.output.splitlines() if name in line)
    assert "schema changed, required columns missing: ['declaration_id']" in line
