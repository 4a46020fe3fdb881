"""A night's disparity window, de-duplicated and counted in DuckDB, out of core.

The night's disparity report (pipelines/disparity.py) compares tonight's selection with every
item filed in the 90 days before, each (declaration, item) counted once, at its latest filing.
That de-duplication needs every key of the window at once: 90 days of the whole day's volume,
which Polars holds in memory. DuckDB spills it to disk past `MEMORY_LIMIT`, and hands back only
what the figures read: each consignee's items, and the window's items counted per groups and
flags (`disparity.cells`).

Grain of `hist`, the one table built: one row per (declaration_id, item_no) filed in the window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from pipelines.disparity import TRADER_ITEMS
from pipelines.io import TMP_SUFFIX

MEMORY_LIMIT = "512MB"
"""What DuckDB may hold before it spills to its scratch folder (2.5 GB held at 1 M a day over 3
days without a limit: decision 0040)."""
COLUMNS = {
    "declaration_id": "VARCHAR",
    "item_no": "BIGINT",
    "country_of_origin": "VARCHAR",
    "mode": "VARCHAR",
    "consignee_id": "VARCHAR",
}
"""Staged columns the window reads, with their types; a column no file has counts as null."""

_LATEST = """
CREATE TEMP TABLE hist AS
SELECT * EXCLUDE (filename, file_row_number) FROM (
    SELECT {columns}, filename, file_row_number
    FROM read_parquet($paths, filename = true, file_row_number = true, union_by_name = true)
)
QUALIFY row_number() OVER (
    PARTITION BY declaration_id, item_no ORDER BY filename DESC, file_row_number DESC
) = 1
"""
_CELLS = """
WITH flags AS (
    SELECT h.declaration_id, h.item_no,
           coalesce(bool_or(m.result = 'finding'), false) AS finding,
           coalesce(bool_or(m.selection_reason = 'random'), false) AS random
    FROM hist h
    JOIN marks m
      ON m.declaration_id = h.declaration_id AND (m.item_no IS NULL OR m.item_no = h.item_no)
    GROUP BY h.declaration_id, h.item_no
)
SELECT h.origin_country,
       coalesce(r.origin_region, 'unknown') AS origin_region,
       coalesce(b.trader_size, $smallest) AS trader_size,
       h.mode,
       false AS selected,
       f.declaration_id IS NOT NULL AS inspected,
       coalesce(f.finding, false) AS finding,
       coalesce(f.random, false) AS random,
       count(*) AS _items
FROM hist h
LEFT JOIN flags f ON f.declaration_id = h.declaration_id AND f.item_no = h.item_no
LEFT JOIN regions r ON r.origin_country = h.origin_country
LEFT JOIN bands b ON b.consignee_id = h.consignee_id
GROUP BY ALL
"""


@contextmanager
def window(paths: list[Path], scratch_beside: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection holding `hist`: the latest filing of each item of `paths` (files in date
    order). DuckDB spills to a scratch folder `.<name>.<random>.tmp` beside `scratch_beside`,
    which the date's sweep removes if a crash leaves it."""
    scratch_beside.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=f".{scratch_beside.name}.disparity.", suffix=TMP_SUFFIX, dir=scratch_beside.parent
    ) as scratch:
        db = duckdb.connect()
        try:
            db.execute("SET memory_limit = ?", [MEMORY_LIMIT])
            db.execute("SET temp_directory = ?", [scratch])
            db.execute("SET preserve_insertion_order = false")
            if paths:
                db.execute(
                    _LATEST.format(columns=_projection(paths)), {"paths": [str(p) for p in paths]}
                )
            else:
                names = ", ".join(f"CAST(NULL AS {t}) AS {_alias(c)}" for c, t in COLUMNS.items())
                db.execute(f"CREATE TEMP TABLE hist AS SELECT {names} LIMIT 0")
            yield db
        finally:
            db.close()


def _alias(column: str) -> str:
    return "origin_country" if column == "country_of_origin" else column


def _projection(paths: list[Path]) -> str:
    # Names and types come from COLUMNS, never from input: only the paths are data.
    present = set().union(*(pl.read_parquet_schema(p) for p in paths))
    return ", ".join(
        f"CAST({c if c in present else 'NULL'} AS {t}) AS {_alias(c)}" for c, t in COLUMNS.items()
    )


def consignee_items(db: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Items per consignee in the window (consignee_id, `TRADER_ITEMS`)."""
    found: pl.DataFrame = db.sql(
        f"SELECT consignee_id, count(*) AS {TRADER_ITEMS} FROM hist GROUP BY ALL"
    ).pl()
    return found


def window_cells(
    db: duckdb.DuckDBPyConnection,
    marks: pl.DataFrame,
    regions: pl.DataFrame,
    bands: pl.DataFrame,
    smallest: str,
) -> pl.DataFrame:
    """The window's items counted per groups and flags (`disparity.cells`, `_items`).

    `marks`: the window's inspections (declaration_id, item_no or null for the whole
    declaration, result, selection_reason); `regions`: (origin_country, origin_region);
    `bands`: (consignee_id, trader_size); `smallest`: the band of a consignee not in `bands`.
    """
    for name, frame in (("marks", marks), ("regions", regions), ("bands", bands)):
        db.register(name, frame)
    found: pl.DataFrame = db.sql(_CELLS, params={"smallest": smallest}).pl()
    return found
