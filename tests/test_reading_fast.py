"""The fast CSV path gives the exact reader's frame, or steps aside: shipped and generated files."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts import fast_csv
from contracts.reading import MalformedFileError, read_csv, read_raw_batches

DATA = Path(__file__).parent / "data"
SHIPPED = sorted(DATA.rglob("*.csv"))


def _outcome(path: Path, *, fast: bool) -> pl.DataFrame | str:
    try:
        return read_csv(path, fast=fast)
    except MalformedFileError as error:
        return f"MalformedFileError: {error}"


def _streamed(path: Path) -> pl.DataFrame | str:
    """The batches ingest writes, taken as ingest takes them."""
    try:
        try:
            return pl.concat(list(read_raw_batches(path)))
        except fast_csv.UnvouchedError:
            return pl.concat(list(read_raw_batches(path, fast=False)))
    except MalformedFileError as error:
        return f"MalformedFileError: {error}"


def _assert_same(path: Path) -> None:
    exact, fast, streamed = _outcome(path, fast=False), _outcome(path, fast=True), _streamed(path)
    if isinstance(exact, str) or isinstance(fast, str) or isinstance(streamed, str):
        assert fast == exact == streamed, path.read_bytes()[:300]
    else:
        assert_frame_equal(fast, exact, check_exact=True)
        assert_frame_equal(streamed, exact, check_exact=True)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_csv_reads_the_same_on_both_paths(path: Path) -> None:
    _assert_same(path)


def test_every_shipped_csv_takes_the_fast_path() -> None:
    # mixed.csv included: its description spanning two lines is a quoted newline.
    assert all(fast_csv.vouch(path) is not None for path in SHIPPED)
    assert {path.name for path in SHIPPED} >= {"mixed.csv", "amendments.csv"}


HEADER = ["declaration_id", "item_no", "goods_description", "remarks"]
VALUES = [
    "",
    "D-1",
    "42",
    "plain words",
    " padded ",
    "comma, inside",
    'say "hi"',
    '"',
    '""',
    "ü € 漢字",
    "tab\there",
    "semi;colon",
    "line\nbreak",
    "crlf\r\ninside",
    "blank\n\nline inside",
]
ODD_VALUES = ["\ufeffbom", "lone\rcr", "trailing cr\r"]
"""Values only the exact reader may read (in any file that has them)."""


def _field(value: str, rng: random.Random) -> str:
    needs_quotes = any(ch in value for ch in ',"\r\n')
    style = rng.random()
    if style < 0.1:
        return value  # written carelessly: may break the row or leave a stray quote
    if needs_quotes or style < 0.3:
        return '"' + value.replace('"', '""') + '"'
    return value


def _record(rng: random.Random, width: int, values: list[str]) -> str:
    if rng.random() < 0.05:
        return ""  # a blank line
    count = width
    if rng.random() < 0.1:
        count = max(1, width + rng.choice([-2, -1, 1, 2]))  # a ragged row
    return ",".join(_field(rng.choice(values), rng) for _ in range(count))


def _tricky_csv(rng: random.Random) -> bytes:
    names = [
        rng.choice([n, f" {n}", f'"{n}"', f'"{n}, x"']) if rng.random() < 0.2 else n for n in HEADER
    ]
    if rng.random() < 0.03:
        names[-1] = names[0]  # a repeated column: the exact reader names it
    header = ",".join(names)
    values = VALUES
    if rng.random() < 0.4:
        # Files as most systems write them: no line breaks inside values.
        values = [v for v in VALUES if not any(ch in v for ch in "\r\n")]
    elif rng.random() < 0.3:
        values = VALUES + ODD_VALUES
    rows = [_record(rng, len(HEADER), values) for _ in range(rng.randint(0, 12))]
    eol = rng.choice(["\n", "\r\n"])
    text = eol.join([header, *rows]) + (eol if rng.random() < 0.8 else "")
    data = text.encode("utf-8")
    if rng.random() < 0.2:
        data = fast_csv.BOM + data
    mutation = rng.random()
    if mutation < 0.05:
        data = data[: rng.randint(0, len(data))]  # a cut-off transfer
    elif mutation < 0.08:
        at = rng.randint(0, len(data))
        data = data[:at] + rng.choice([b"\x00", b"\xff", b"\xe9"]) + data[at:]
    return data


# 61-byte chunks split nearly every field: the thorough case, 15 s, among the slow tests.
@pytest.mark.parametrize(
    "chunk_bytes", [fast_csv.CHUNK_BYTES, pytest.param(61, marks=pytest.mark.slow)]
)
def test_generated_tricky_files_read_the_same_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    # Small chunks put chunk edges between records, blank lines and ragged ones.
    monkeypatch.setattr(fast_csv, "CHUNK_BYTES", chunk_bytes)
    rng = random.Random(20261129)
    vouched: list[fast_csv.CsvLayout] = []
    for number in range(1000):
        path = tmp_path / f"tricky-{number}.csv"
        path.write_bytes(_tricky_csv(rng))
        _assert_same(path)
        layout = fast_csv.vouch(path)
        vouched += [layout] if layout is not None else []
    # The comparison means something only if the fast path was taken often, quirks included.
    assert len(vouched) > 450
    assert sum(bool(layout.ragged) for layout in vouched) > 150
    assert sum(bool(layout.blank) for layout in vouched) > 80
    assert sum(layout.lines > layout.records for layout in vouched) > 150  # quoted newlines


VOUCHED = {
    "crlf": b"a,b\r\n1,2\r\n3,4\r\n",
    "bom": b"\xef\xbb\xbfa,b\n1,2\n",
    "ragged": b"a,b,c\n1,2\n3,4,5,6\n7,8,9\n",
    "blank lines": b"a,b\n\n1,2\n\r\n\n3,4\n\n",
    "quotes": b'a,b\n"x, ""y""",""\n"",z\n',
    "no final newline": b"a,b\n1,2",
    "unicode": 'a,b\nü,"€,x"\n'.encode(),
}
REFUSED = {
    "unterminated quote": b'a,b\n"x,2\n3,4\n',
    "carriage return inside quotes": b'a,b\n"x\ry",2\n',
    "lone carriage return": b"a,b\n1\r,2\n",
    "quote inside a field": b'a,b\nab"c,d\n',
    "text after a closing quote": b'a,b\n"ab"c,d\n',
    "NUL byte": b"a,b\n1,\x002\n",
    "latin-1": b"a,b\n1,caf\xe9\n",
    "BOM inside": b"a,b\n\xef\xbb\xbf1,2\n",
    "truncated last row": b"a,b,c\n1,2,3\n4,5",
}


@pytest.mark.parametrize("name", VOUCHED)
def test_the_scan_vouches_for_line_local_quirks(tmp_path: Path, name: str) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(VOUCHED[name])
    assert fast_csv.vouch(path) is not None
    _assert_same(path)


@pytest.mark.parametrize("name", REFUSED)
def test_the_scan_steps_aside_for_what_it_cannot_prove(tmp_path: Path, name: str) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(REFUSED[name])
    layout = fast_csv.vouch(path)
    truncated = layout is not None and not layout.ends_with_newline and layout.ragged
    assert layout is None or truncated
    _assert_same(path)


def test_ragged_rows_keep_their_lines_nulls_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a,b,c\n1,2\n\n3,4,5,6\n7,,9\n")
    frame = read_csv(path)
    assert frame["_line"].to_list() == [2, 4, 5]
    assert frame["c"].to_list() == [None, "5", "9"]
    assert frame["b"].to_list() == ["2", "4", ""]
    assert frame["_row_error"].to_list() == [
        "expected 3 fields, found 2",
        "expected 3 fields, found 4",
        None,
    ]


def test_the_scan_reads_in_chunks_without_losing_lines_at_their_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks put chunk edges inside quoted fields, CRLF pairs and multibyte characters.
    monkeypatch.setattr(fast_csv, "CHUNK_BYTES", 7)
    path = tmp_path / "chunked.csv"
    rows = [f'{i},"x, ""{i}""\r\nnext ""line""\r\n",ü€\r' for i in range(50)]
    path.write_bytes(("a,b,c\r\n" + "\n".join(rows) + "\n").encode())
    layout = fast_csv.vouch(path)
    assert layout is not None and layout.records == 50 and layout.lines == 150
    assert not layout.ragged
    _assert_same(path)
    assert read_csv(path)["_line"].to_list()[:3] == [2, 5, 8]


def test_a_field_past_the_csv_field_limit_is_left_to_the_exact_reader(tmp_path: Path) -> None:
    limit = csv.field_size_limit(100)
    try:
        path = tmp_path / "long.csv"
        path.write_text('a,b\n1,"' + "words\n" * 30 + '"\n', encoding="utf-8")
        assert fast_csv.vouch(path) is None
        # The exact reader reads past the csv module's limit: a long cell is its row's problem
        # (MAX_FIELD_CHARS), never its file's.
        assert read_csv(path)["b"].to_list() == ["words\n" * 30]
        _assert_same(path)
    finally:
        csv.field_size_limit(limit)


def test_a_long_and_a_short_record_that_balance_out_are_still_found(tmp_path: Path) -> None:
    # Separator totals match the header's width; Polars' strict read catches the long record,
    # and the per-line scan then finds both.
    rows = [f"D-{i},{i},words" for i in range(40_000)]
    rows[1_000] = "D-short,1"
    rows[35_000] = "D-long,2,words,extra"
    path = tmp_path / "balanced.csv"
    path.write_text("declaration_id,item_no,goods_description\n" + "\n".join(rows) + "\n")
    layout = fast_csv.vouch(path)
    assert layout is not None and not layout.ragged
    _assert_same(path)
    errors = read_csv(path).filter(pl.col("_row_error").is_not_null())
    assert errors["_line"].to_list() == [1_002, 35_002]
