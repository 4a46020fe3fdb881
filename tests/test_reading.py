"""Reading contract files: formats, line numbers, casts, unparseable files and amendments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.declarations import DECLARATIONS
from contracts.reading import (
    LINE,
    SOURCE_FILE,
    MalformedFileError,
    cast_to_contract,
    latest_filing,
    read_raw,
)

DATA = Path(__file__).parent / "data" / "declarations"
MIXED = DATA / "mixed.csv"


def _typed(path: Path) -> pl.DataFrame:
    typed, _ = cast_to_contract(read_raw(path), DECLARATIONS)
    return typed


def _good_rows(tmp_path: Path) -> Path:
    """The good rows of the mixed fixture as their own CSV."""
    lines = MIXED.read_text(encoding="utf-8").splitlines(keepends=True)
    target = tmp_path / "good.csv"
    # Header, then the good rows; the second good row spans two physical lines.
    target.write_text("".join(lines[:7]), encoding="utf-8")
    return target


def test_csv_keeps_every_column_as_string_and_names_physical_lines() -> None:
    raw = read_raw(MIXED)
    assert all(raw[name].dtype == pl.String for name in [*DECLARATIONS.names, "remarks"])
    assert raw[SOURCE_FILE].unique().to_list() == [str(MIXED)]
    # The header is line 1; the second row's description spans lines 3-4, so row 3 starts at 5.
    assert raw[LINE].head(4).to_list() == [2, 3, 5, 6]
    assert raw["goods_description"][1] == "Spare parts\nfor centrifugal pumps"


def test_cast_gives_contract_types_utc_timestamps_and_split_lists() -> None:
    typed, failures = cast_to_contract(read_raw(MIXED).head(5), DECLARATIONS)
    assert failures.height == 0
    for name, dtype in DECLARATIONS.polars_schema.items():
        assert typed[name].dtype == dtype, name
    assert typed["transshipment_ports"][0].to_list() == ["SGSIN", "LKCMB"]
    assert typed["transshipment_ports"][1] is None
    # 16:40 at +08:00 is 08:40 UTC.
    assert typed["filed_at"][2] == datetime(2026, 11, 28, 8, 40, tzinfo=UTC)
    assert typed["expected_arrival"][0] == date(2026, 12, 20)
    assert typed["remarks"][2] == "sample lot"
    assert typed.columns[: len(DECLARATIONS.names)] == DECLARATIONS.names


def test_cast_failures_name_line_field_value_and_reason() -> None:
    _, failures = cast_to_contract(read_raw(MIXED), DECLARATIONS)
    by_field = {row["field"]: row for row in failures.iter_rows(named=True)}
    assert by_field["packages"]["value"] == "ten"
    assert by_field["packages"]["reason"] == "not a whole number"
    assert by_field["expected_arrival"]["value"] == "2026-02-30"
    assert by_field["filed_at"]["value"] == "2026-11-28T08:00:00"
    assert by_field["_row"]["reason"] == "expected 27 fields, found 28"
    lines = read_raw(MIXED).filter(pl.col("declaration_id") == "BAD-ROW")[LINE]
    assert by_field["_row"][LINE] == lines[0]


def test_a_clean_frame_gets_the_empty_failures_frame_a_broken_one_would_have() -> None:
    """Clean rows skip the per-column filters: the frame they get is the broken frame's schema,
    with or without a caller's row ids."""
    raw = read_raw(MIXED)
    for frame in (raw, raw.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))):
        _, broken = cast_to_contract(frame, DECLARATIONS)
        _, clean = cast_to_contract(frame.head(5), DECLARATIONS)
        assert broken.height and clean.is_empty()
        assert_frame_equal(clean, broken.clear())
    # One malformed row alone (no value failed to cast) still names its reason.
    _, row_only = cast_to_contract(raw.filter(pl.col("declaration_id") == "BAD-ROW"), DECLARATIONS)
    assert "_row" in row_only["field"].to_list()


def test_jsonl_and_parquet_round_trips_give_identical_typed_frames(tmp_path: Path) -> None:
    from_csv = _typed(_good_rows(tmp_path))
    data = from_csv.drop(SOURCE_FILE, LINE, "_row_error")
    parquet = tmp_path / "good.parquet"
    jsonl = tmp_path / "good.jsonl"
    data.write_parquet(parquet)
    data.with_columns(
        pl.col("filed_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
    ).write_ndjson(jsonl)
    for path in (parquet, jsonl):
        again = _typed(path)
        assert again[LINE].to_list() == list(range(1, data.height + 1))
        assert_frame_equal(again.drop(SOURCE_FILE, LINE, "_row_error"), data)


HEAD = "declaration_id,goods_description\n"
UNPARSEABLE = [
    ("latin1.csv", "d\xe9claration_id\nD-1\n", "mixed.latin1.csv:1: header is not valid UTF-8"),
    ("cut.csv", HEAD + 'D-1,ok\nD-2,"Spare parts', "cut.csv:3: cannot be parsed as CSV"),
    ("short.csv", "declaration_id,item_no,mode\nD-1,1,sea\nD-2,1", "short.csv:3: truncated"),
    ("empty.csv", "", "empty.csv: empty file"),
    (
        "bad.jsonl",
        '{"declaration_id": "D-1"}\n{"declaration_id": "D-',
        "bad.jsonl:2: truncated: last line is incomplete (not valid JSON",
    ),
    ("list.jsonl", '["D-1"]\n', "list.jsonl:1: each line must be one JSON object"),
    ("fake.parquet", "declaration_id\nD-1\n", "fake.parquet: not a readable Parquet file"),
    ("twice.csv", "a,a\n1,2\n", "twice.csv:1: header repeats the column 'a'"),
    ("notes.txt", "hello\n", "notes.txt: unsupported file type .txt"),
]


@pytest.mark.parametrize(("name", "content", "expected"), UNPARSEABLE)
def test_unparseable_files_raise_one_line_naming_the_file(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / ("mixed." + name if name.startswith("latin1") else name)
    encoding = "latin-1" if name.startswith("latin1") else "utf-8"
    path.write_bytes(content.encode(encoding))
    with pytest.raises(MalformedFileError) as caught:
        read_raw(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path))
    assert expected in message


def test_missing_required_column_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "narrow.csv"
    path.write_text("declaration_id,item_no\nD-1,1\n", encoding="utf-8")
    with pytest.raises(MalformedFileError, match=r"narrow\.csv:1: missing required column"):
        cast_to_contract(read_raw(path), DECLARATIONS)


def test_latest_filing_wins_and_ties_go_to_the_later_line() -> None:
    typed = _typed(DATA / "amendments.csv")
    latest = latest_filing(typed, DECLARATIONS)
    descriptions = dict(zip(latest["declaration_id"], latest["goods_description"], strict=True))
    assert descriptions == {"D-0500": "Latest filing", "D-0501": "Tie, later line"}


def test_docs_page_is_generated_from_the_contracts() -> None:
    from contracts.docs import render_all

    page = Path(__file__).parent.parent / "docs" / "contracts.md"
    assert page.read_text(encoding="utf-8") == render_all(), (
        "docs/contracts.md is stale: run .venv/bin/python -m contracts.docs > docs/contracts.md"
    )
    for name in DECLARATIONS.names:
        assert f"| `{name}` |" in page.read_text(encoding="utf-8")


def test_windows_line_endings_and_a_bom_read_like_plain_utf8(tmp_path: Path) -> None:
    text = MIXED.read_text(encoding="utf-8")
    windows = tmp_path / "windows.csv"
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    plain, crlf = read_raw(MIXED), read_raw(windows)
    assert crlf.columns == plain.columns
    assert crlf[LINE].to_list() == plain[LINE].to_list()
    assert crlf["goods_description"][1] == "Spare parts\r\nfor centrifugal pumps"


def test_a_truncated_parquet_file_is_refused_whole(tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    read_raw(MIXED).drop(SOURCE_FILE, LINE, "_row_error").write_parquet(whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(MalformedFileError, match=r"cut\.parquet: not a readable Parquet file"):
        read_raw(cut)


def test_casts_are_built_once_a_contract_and_each_contract_casts_by_its_own_rules() -> None:
    """The cast expressions are kept per contract; a contract equal but for its list separator
    and one column's type (same name, same column names) gets its own casts, and the kept casts
    give the frame and failures of expressions built afresh."""
    import dataclasses

    from contracts.reading import GIVEN, _cast_expr, _casts

    assert _casts(DECLARATIONS) is _casts(DECLARATIONS)
    raw = read_raw(MIXED).with_columns(
        pl.lit("SGSIN;LKCMB").alias("transshipment_ports"), pl.lit("12").alias("shipper_name")
    )
    other = dataclasses.replace(
        DECLARATIONS,
        list_separator=";",
        columns=tuple(
            dataclasses.replace(c, kind="integer") if c.name == "shipper_name" else c
            for c in DECLARATIONS.columns
        ),
    )
    for contract in (DECLARATIONS, other, DECLARATIONS):
        typed, failures = cast_to_contract(raw, contract)
        fresh = raw.with_columns(
            _cast_expr(c, contract.list_separator).cast(c.dtype).alias(c.name)
            for c in contract.columns
        ).select(typed.columns)
        assert_frame_equal(typed, fresh)
        assert not any(name.startswith(GIVEN) for name in typed.columns)
        assert failures.height > 0  # mixed.csv has values that do not cast
    declared, _ = cast_to_contract(raw, DECLARATIONS)
    own, _ = cast_to_contract(raw, other)
    assert declared["transshipment_ports"][0].to_list() == ["SGSIN;LKCMB"]
    assert own["transshipment_ports"][0].to_list() == ["SGSIN", "LKCMB"]
    assert declared.schema["shipper_name"] == pl.String and own.schema["shipper_name"] == pl.Int64
