"""The validate check and verb: good rows kept, every bad row rejected with its reason, and
nothing written in the data home (ingest is the one way into the zones)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contracts.reading import LINE, SOURCE_FILE, read_raw
from pipelines.cli import app
from pipelines.settings import Settings, load_settings
from pipelines.validate import (
    FILING_DATE,
    QUARANTINE_SCHEMA,
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


def _nothing_written(settings: Settings) -> None:
    assert not settings.home.exists() or not any(settings.home.rglob("*.parquet"))


def test_good_rows_kept_and_each_bad_row_quarantined_with_its_reason(
    settings: Settings, mixed: Path
) -> None:
    report = validate_files([mixed], settings, now=NOW, refs=REFS)
    raw = read_raw(mixed)
    good = raw.filter(~pl.col("declaration_id").str.starts_with("BAD"))
    bad = raw.filter(pl.col("declaration_id").str.starts_with("BAD"))
    assert good.height == 100
    assert bad.height >= 20

    staged = report.kept
    assert sorted(staged[LINE]) == sorted(good[LINE])
    assert staged["goods_description"].to_list().count("Spare parts\nfor centrifugal pumps") == 1

    quarantined = report.rejected
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
    _nothing_written(settings)


def test_rejected_rows_carry_their_filing_date_or_none(settings: Settings, mixed: Path) -> None:
    report = validate_files([mixed], settings, now=NOW, refs=REFS)
    days = set(report.rejected[FILING_DATE].drop_nulls().cast(pl.String))
    assert days == {"2026-11-28", "2027-06-01"}
    unparsed = report.rejected.filter(pl.col(FILING_DATE).is_null())
    assert set(unparsed["field"]) == {"filed_at"}


def test_an_amendment_in_a_later_file_wins(settings: Settings, tmp_path: Path) -> None:
    rows = (DATA / "amendments.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    early, late = tmp_path / "early.csv", tmp_path / "late.csv"
    early.write_text(rows[0] + rows[1], encoding="utf-8")  # D-0500 at 07:00
    late.write_text(rows[0] + rows[2], encoding="utf-8")  # D-0500 at 08:00
    report = validate_files([late, early], settings, now=NOW, refs=REFS)
    assert report.kept["goods_description"].to_list() == ["Latest filing"]


def test_a_latin1_byte_rejects_its_rows_and_a_truncated_file_is_named(
    settings: Settings, mixed: Path
) -> None:
    latin1 = mixed.with_name("latin1.csv")
    latin1.write_bytes(
        (DATA / "mixed.csv").read_text(encoding="utf-8").replace("Tools", "Töols").encode("latin-1")
    )
    truncated = mixed.with_name("truncated.csv")
    truncated.write_text(mixed.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    report = validate_files([latin1, mixed, truncated], settings, now=NOW, refs=REFS)
    assert set(report.errors) == {str(truncated)}
    assert "\n" not in report.errors[str(truncated)]
    assert "truncated.csv" in report.errors[str(truncated)]
    assert "truncated" in report.errors[str(truncated)]
    bad_byte = report.rejected.filter(pl.col("reason").str.contains("not valid UTF-8"))
    # A record with the wrong field count is rejected for that, whatever its bytes.
    tools = pl.col("shipper_name").str.contains("Tools") & pl.col("_row_error").is_null()
    tools_lines = read_raw(mixed).filter(tools)[LINE]
    assert sorted(bad_byte[LINE]) == sorted(tools_lines)
    assert set(bad_byte[SOURCE_FILE]) == {str(latin1.resolve())}

    # The same rows are rejected as in the clean file, plus exactly those with the bad byte.
    def rejected_lines(path: Path) -> set[int]:
        return set(report.rejected.filter(pl.col(SOURCE_FILE) == str(path.resolve()))[LINE])

    assert rejected_lines(latin1) == rejected_lines(mixed) | set(tools_lines)
    assert report.files[0].rows_kept + report.files[0].rows_rejected == 123


def test_too_many_rejections_fail_the_check_and_write_nothing(tmp_path: Path, mixed: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text("max_rejected_share: 0.05\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(home),
            "--config",
            str(home / "settings.yaml"),
            "validate",
            str(mixed),
            "--now",
            "2026-11-29T03:00:00Z",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "23 of 123 rows rejected" in result.output
    assert sorted(p.name for p in home.iterdir()) == ["settings.yaml"]


def test_cli_prints_counts_per_reason_writes_rejected_rows_and_nothing_in_the_zones(
    tmp_path: Path, mixed: Path
) -> None:
    unreadable = mixed.with_name("short.csv")
    unreadable.write_text("declaration_id,item_no,mode\nD-1,1,sea\nD-2,1", encoding="utf-8")
    home = tmp_path / "home"
    out = tmp_path / "out" / "rejected.csv"
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(home),
            "validate",
            str(mixed),
            str(unreadable),
            "--now",
            "2026-11-29T03:00:00Z",
            "--rejected",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Rejections per reason" in result.output
    assert "reference:locode" in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "short.csv:3: truncated" in error_lines[0]
    rejected = pl.read_csv(out, infer_schema=False)
    assert rejected.select(LINE).n_unique() == 23
    assert set(rejected[SOURCE_FILE]) == {str(mixed.resolve())}
    assert not home.exists()


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
    assert report.kept["hs_code"].str.len_chars().min() == 6
    if report.rows_rejected:
        # The original is the row as delivered, in the foreign layout.
        original = json.loads(report.rejected["original"][0])
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
