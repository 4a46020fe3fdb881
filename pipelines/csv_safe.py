"""CSV output that a spreadsheet will not run as formulas (CSV / formula injection).

Ranked lists carry watch-list entry ids and the inspector's exports carry free-text notes and
waiver reasons; a cell such as `=HYPERLINK(...)` would run when an officer opens the file in a
spreadsheet. Following OWASP's advice, a String cell that starts with `=`, `+`, `-`, `@`, a tab
or a carriage return gets a leading single quote. Only String columns are touched: a negative
number in a numeric column stays a number, and every other value is written unchanged.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.io import atomic_path

# A cell starting with = + - @, a tab or a carriage return (OWASP's list).
_FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every String cell that a spreadsheet would evaluate prefixed by `'`."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def safe_csv_text(frame: pl.DataFrame) -> str:
    """The frame as CSV text with formula-like String cells neutralised."""
    return neutralise_formulas(frame).write_csv()


def write_safe_csv(frame: pl.DataFrame, target: Path) -> Path:
    """Write a frame atomically as CSV with formula-like String cells neutralised."""
    with atomic_path(target) as tmp:
        neutralise_formulas(frame).write_csv(tmp)
    return target
