"""The validate stage and verb: good rows kept, every bad row quarantined with its reason."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from contracts.reading import LINE, SOURCE_FILE, read_raw
from pipelines.cli import app
from pipelines.layout import quarantine_declarations as quarantine_dir
from pipelines.layout import staged_declarations_file as staging_path
from pipelines.settings import Settings, load_settings
from pipelines.validate import (
    FILING_DATE,
    QUARANTINE_SCHEMA,
    RejectedShareError,
    validate_files,
    validate_frame,
    validate_outcomes_frame,
)

DATA = Path(__file__).parent / "data" / "declarations"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
REFS = {
    "locode": {"CNSHA", "NLRTM", "SGSIN", "LKCMB", "FRCDG", "PLGDN", "DEHAM", "BEANR"},
    "hs6": {"847130", "841391", "610910", "940360", "870323"},
    "country": {"CN", "NL", "FR", "PL", "DE"},
    "currency": {"USD", "EUR", "CNY"},
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, home=tmp_path / "home")


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    target = tmp_path / "landing" / "mixed.csv"
    target.parent.mkdir(parents=True)
    shutil.copy(DATA / "mixed.csv", target)
    return target


def _staged(settings: Settings) -> pl.DataFrame:
    files = sorted((settings.zone("staging") / "declarations").glob("date=*/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _quarantined(settings: Settings) -> pl.DataFrame:
    files = sorted(quarantine_dir(settings).glob("date=*/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files])


def test_good_rows_kept_and_each_bad_row_quarantined_with_its_reason(
    settings: Settings, mixed: Path
) -> None:
    report = validate_files([mixed], settings, now=NOW, refs=REFS)
    raw = read_raw(mixed)
    good = raw.filter(~pl.col("declaration_id").str.starts_with("BAD"))
    bad = raw.filter(pl.col("declaration_id").str.starts_with("BAD"))
    assert good.height == 100
    assert bad.height >= 20

    staged = _staged(settings)
    assert sorted(staged[LINE]) == sorted(good[LINE])
    assert staged["goods_description"].to_list().count("Spare parts\nfor centrifugal pumps") == 1

    quarantined = _quarantined(settings)
    assert quarantined.schema == QUARANTINE_SCHEMA
    assert set(quarantined[SOURCE_FILE]) == {str(mixed.resolve())}
    for row in bad.iter_rows(named=True):
        field, rule = row["remarks"].split(" ")
        failures = quarantined.filter(pl.col(LINE) == row[LINE])
        assert failures.select("field", "rule").rows() == [(field, rule)], row["declaration_id"]
        failure = failures.row(0, named=True)
        assert failure["reason"]
        if field != "_row":
            assert failure["value"] == row[field]
        # The rejected row keeps its original values.
        assert json.loads(failure["original"])["declaration_id"] == row["declaration_id"]

    assert report.rows_read == raw.height
    assert report.rows_kept == good.height
    assert report.rows_rejected == bad.height
    assert sum(report.reasons.values()) == bad.height
    assert report.reasons[("item_no", "minimum", "must be >= 1")] == 1
    assert report.errors == {}


def test_partitions_follow_the_filing_date(settings: Settings, mixed: Path) -> None:
    report = validate_files([mixed], settings, now=NOW, refs=REFS)
    assert report.staging_paths == [
        staging_path(settings, datetime(2026, 11, 27).date()),
        staging_path(settings, datetime(2026, 11, 28).date()),
    ]
    earlier = pl.read_parquet(report.staging_paths[0])
    assert earlier["declaration_id"].to_list() == ["D-0003"]
    # Rejected rows go to their filing date; a filing date that does not parse -> the run date.
    days = {p.parent.name for p in report.quarantine_paths}
    assert days == {"date=2026-11-28", "date=2026-11-29", "date=2027-06-01"}
    unparsed = pl.read_parquet(quarantine_dir(settings) / "date=2026-11-29" / "mixed.parquet")
    assert set(unparsed["field"]) == {"filed_at"}


def test_rerun_gives_the_same_partitions_and_keeps_other_files(
    settings: Settings, mixed: Path
) -> None:
    validate_files([mixed], settings, now=NOW, refs=REFS)
    first = _staged(settings).sort(LINE)
    validate_files([mixed], settings, now=NOW, refs=REFS)
    assert_frame_equal(_staged(settings).sort(LINE), first)
    amendments = mixed.with_name("amendments.csv")
    shutil.copy(DATA / "amendments.csv", amendments)
    validate_files([amendments], settings, now=NOW, refs=REFS)
    validate_files([mixed], settings, now=NOW, refs=REFS)
    both = _staged(settings)
    assert both.height == first.height + 2
    latest = both.filter(pl.col("declaration_id").is_in(["D-0500", "D-0501"]))
    assert sorted(latest["goods_description"]) == ["Latest filing", "Tie, later line"]
    again = both.filter(pl.col(SOURCE_FILE) == str(mixed.resolve())).sort(LINE)
    assert_frame_equal(again.select(first.columns), first)
    assert _quarantined(settings).height == 23


def test_an_amendment_in_a_later_file_wins(settings: Settings, tmp_path: Path) -> None:
    rows = (DATA / "amendments.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    early, late = tmp_path / "early.csv", tmp_path / "late.csv"
    early.write_text(rows[0] + rows[1], encoding="utf-8")  # D-0500 at 07:00
    late.write_text(rows[0] + rows[2], encoding="utf-8")  # D-0500 at 08:00
    validate_files([late], settings, now=NOW, refs=REFS)
    validate_files([early], settings, now=NOW, refs=REFS)
    staged = _staged(settings)
    assert staged["goods_description"].to_list() == ["Latest filing"]


def test_unreadable_files_are_named_and_the_others_still_load(
    settings: Settings, mixed: Path
) -> None:
    latin1 = mixed.with_name("latin1.csv")
    latin1.write_bytes(
        (DATA / "mixed.csv").read_text(encoding="utf-8").replace("Tools", "Töols").encode("latin-1")
    )
    truncated = mixed.with_name("truncated.csv")
    truncated.write_text(mixed.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    report = validate_files([latin1, mixed, truncated], settings, now=NOW, refs=REFS)
    assert set(report.errors) == {str(latin1), str(truncated)}
    for path, message in report.errors.items():
        assert "\n" not in message
        assert Path(path).name in message
    assert "not valid UTF-8" in report.errors[str(latin1)]
    assert "truncated" in report.errors[str(truncated)]
    assert report.rows_kept == 100
    assert not list(quarantine_dir(settings).glob("date=*/latin1.parquet"))


def test_too_many_rejections_stop_after_quarantine(tmp_path: Path, mixed: Path) -> None:
    strict = load_settings(environ={}, home=tmp_path / "home", max_rejected_share=0.05)
    with pytest.raises(RejectedShareError, match=r"23 of 123 rows rejected") as caught:
        validate_files([mixed], strict, now=NOW, refs=REFS)
    assert caught.value.report.rows_rejected == 23
    assert _quarantined(strict).height == 23
    assert not (strict.zone("staging")).exists()


def test_cli_prints_counts_per_reason_and_fails_on_an_unreadable_file(
    tmp_path: Path, mixed: Path
) -> None:
    latin1 = mixed.with_name("latin1.csv")
    latin1.write_bytes("declaration_id\nCaf\xe9\n".encode("latin-1"))
    home = tmp_path / "home"
    result = CliRunner().invoke(
        app,
        ["--home", str(home), "validate", str(mixed), str(latin1), "--now", "2026-11-29T03:00:00Z"],
    )
    assert result.exit_code == 1, result.output
    assert "Rejections per reason" in result.output
    assert "reference:locode" in result.output
    assert "staging:" in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "latin1.csv:2: not valid UTF-8" in error_lines[0]
    assert len(list((home / "staging" / "declarations").glob("date=*/*.parquet"))) == 2


def test_cli_refuses_a_naive_now(tmp_path: Path, mixed: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "validate", str(mixed), "--now", "2026-11-29T03:00"]
    )
    assert result.exit_code == 2
    assert "needs an offset" in result.output


def test_a_partition_of_several_files_blames_the_right_file(tmp_path: Path) -> None:
    rows = (DATA / "mixed.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(rows[0] + rows[1], encoding="utf-8")
    second.write_text(rows[0] + rows[1].replace(",10,1250.5,", ",ten,1250.5,"), encoding="utf-8")
    # Same line numbers in both files, as in a raw-zone partition.
    raw = pl.concat([read_raw(first), read_raw(second)])
    valid, rejected = validate_frame(raw, REFS, NOW)
    assert valid[SOURCE_FILE].to_list() == [str(first)]
    assert rejected.select(SOURCE_FILE, LINE, "field", "rule").rows() == [
        (str(second), 2, "packages", "cast:integer")
    ]


def test_a_foreign_layout_comes_in_through_its_mapping(settings: Settings) -> None:
    from contracts.mapping import load_mapping

    kcs = Path(__file__).parent / "data" / "kcs" / "df_syn_valid_eng_head500.csv"
    report = validate_files([kcs], settings, mapping=load_mapping("kcs"), now=NOW)
    assert report.errors == {}
    assert report.rows_read == 500
    assert report.rows_kept + report.rows_rejected == 500
    assert report.rows_kept > 400
    staged = _staged(settings)
    assert staged["hs_code"].str.len_chars().min() == 6
    if report.rows_rejected:
        # The original is the row as delivered, in the foreign layout.
        original = json.loads(_quarantined(settings)["original"][0])
        assert "Declaration ID" in original


def test_outcomes_frame_keeps_good_rows_and_quarantines_bad_ones() -> None:
    raw = pl.DataFrame(
        {
            "declaration_id": ["D-1", "D-2", "D-3"],
            "inspected_at": ["2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z", "soon"],
            "selection_reason": ["random", "risk", "risk"],
            "result": ["finding", "finding", "no_finding"],
            "finding_category": ["salw", "", ""],
            "inspector_id": ["I-1", "I-1", "I-2"],
        }
    ).with_columns(pl.lit("outcomes.csv").alias(SOURCE_FILE), pl.int_range(2, 5).alias(LINE))
    valid, rejected = validate_outcomes_frame(raw)
    assert valid["declaration_id"].to_list() == ["D-1"]
    assert valid["inspected_at"].dtype == pl.Datetime("us", "UTC")
    assert rejected.select(LINE, "field", "rule").rows() == [
        (3, "finding_category", "required_when_finding"),
        (4, "inspected_at", "cast:timestamp"),
    ]
    assert rejected.filter(pl.col(LINE) == 3)[FILING_DATE].to_list() == [
        datetime(2026, 11, 30).date()
    ]
