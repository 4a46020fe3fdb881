"""CSV formula injection: formula-like String cells get a quote, everything else is unchanged."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.csv_safe import neutralise_formulas, safe_csv_text, write_safe_csv


def test_formula_like_string_cells_get_a_leading_quote() -> None:
    cells = ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "a=b", "", None]
    out = neutralise_formulas(pl.DataFrame({"s": cells}))["s"].to_list()
    assert out == [
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "a=b",
        "",
        None,
    ]


def test_numeric_columns_stay_numbers() -> None:
    frame = pl.DataFrame({"n": [-1, 2], "x": [-0.5, 1.25], "s": ["-1", "ok"]})
    out = neutralise_formulas(frame)
    assert out.schema == frame.schema
    assert out["n"].to_list() == [-1, 2]
    assert out["x"].to_list() == [-0.5, 1.25]
    assert safe_csv_text(frame) == "n,x,s\n-1,-0.5,'-1\n2,1.25,ok\n"


def test_plain_values_are_byte_identical_to_polars(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": ["A/1", "B, 2", 'say "hi"'], "score": [0.1, -3.0, None]})
    written = write_safe_csv(frame, tmp_path / "out.csv")
    assert written.read_bytes() == frame.write_csv().encode()
