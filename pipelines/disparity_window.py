"""A night's disparity report counted in DuckDB, out of core: the window and tonight.

The night's disparity report (pipelines/disparity.py) compares tonight's selection with every
item filed in the 90 days before, each (declaration, item) counted once, at its latest filing.
DuckDB reads the staged files (spilling to disk past `MEMORY_LIMIT`) and hands back only what
the figures read: each consignee's items, and the items counted per groups and flags
(`disparity.cells`), of the window and of tonight's list.

Most items of the window are filed once and never inspected: their counts are summed per
(consignee, origin, mode) as the files are read, never held item by item. Only the **special**
items are kept one row per filing and de-duplicated to their latest filing: those whose key is
filed more than once in the window (found first by counting the keys' 64-bit hashes: a
collision only makes an item special, it never merges two), and those of a declaration
inspected in the window (their flags come from the inspections). Every filing of a key is
special or none is, so the counts are those of de-duplicating the whole window (decision 0040,
second addendum). Tonight's file is de-duplicated the same way and joined with the list.

Tables built: `duplicated`, one row per key hash filed more than once in the window; `marked`,
one row per inspected declaration; `items`, one row per (consignee, origin, mode) of the plain
items with their count, plus one row per filing of a special item; `latest`, one row per
special (declaration_id, item_no) at its latest filing; `tonight`, one row per
(declaration_id, item_no) of tonight's staged file at its latest filing.
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
KEY = ("declaration_id", "item_no")

_DUPLICATED = """
CREATE TEMP TABLE duplicated AS
SELECT hash(declaration_id, item_no) AS key_hash
FROM (SELECT {keys} FROM read_parquet($paths, union_by_name = true))
GROUP BY ALL
HAVING count(*) > 1
"""
_MARKED = """
CREATE TEMP TABLE marked AS
SELECT DISTINCT CAST(declaration_id AS VARCHAR) AS declaration_id
FROM marks WHERE declaration_id IS NOT NULL
"""
_ITEMS = """
CREATE TEMP TABLE items AS
WITH staged AS (
    SELECT {columns}, filename, file_row_number
    FROM read_parquet($paths, filename = true, file_row_number = true, union_by_name = true)
), classified AS (
    SELECT *,
           hash(declaration_id, item_no) IN (SELECT key_hash FROM duplicated)
           OR coalesce(declaration_id IN (SELECT declaration_id FROM marked), false) AS special
    FROM staged
)
SELECT CASE WHEN special THEN declaration_id END AS declaration_id,
       CASE WHEN special THEN item_no END AS item_no,
       CASE WHEN special THEN filename END AS filename,
       CASE WHEN special THEN file_row_number END AS file_row_number,
       origin_country, mode, consignee_id,
       count(*) AS items
FROM classified
GROUP BY ALL
"""
_LATEST = """
CREATE TEMP TABLE latest AS
SELECT declaration_id, item_no, origin_country, mode, consignee_id
FROM items
WHERE filename IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY declaration_id, item_no ORDER BY filename DESC, file_row_number DESC
) = 1
"""
_CONSIGNEES = f"""
SELECT consignee_id, CAST(sum(items) AS BIGINT) AS {TRADER_ITEMS}
FROM (
    SELECT consignee_id, items FROM items WHERE filename IS NULL
    UNION ALL
    SELECT consignee_id, 1 AS items FROM latest
    UNION ALL
    SELECT consignee_id, 1 AS items FROM tonight
)
GROUP BY ALL
"""
_TONIGHT = """
CREATE TEMP TABLE tonight AS
WITH staged AS (
    SELECT {columns}, file_row_number
    FROM read_parquet($paths, file_row_number = true, union_by_name = true)
), repeated AS (
    SELECT hash(declaration_id, item_no) AS key_hash FROM staged GROUP BY ALL HAVING count(*) > 1
)
SELECT * EXCLUDE (file_row_number) FROM staged
WHERE hash(declaration_id, item_no) NOT IN (SELECT key_hash FROM repeated)
UNION ALL
SELECT * EXCLUDE (file_row_number) FROM (
    SELECT * FROM staged WHERE hash(declaration_id, item_no) IN (SELECT key_hash FROM repeated)
    QUALIFY row_number() OVER (
        PARTITION BY declaration_id, item_no ORDER BY file_row_number DESC
    ) = 1
)
"""
_SELECTION = """
WITH listed AS (
    SELECT CAST(declaration_id AS VARCHAR) AS declaration_id,
           CAST(item_no AS BIGINT) AS item_no,
           list_contains($lanes, lane) AS selected
    FROM read_parquet($list)
)
SELECT t.origin_country,
       coalesce(r.origin_region, 'unknown') AS origin_region,
       coalesce(b.trader_size, $smallest) AS trader_size,
       t.mode,
       l.selected,
       false AS inspected,
       false AS finding,
       false AS random,
       count(*) AS _items
FROM listed l
LEFT JOIN tonight t ON t.declaration_id = l.declaration_id AND t.item_no = l.item_no
LEFT JOIN regions r ON r.origin_country = t.origin_country
LEFT JOIN bands b ON b.consignee_id = t.consignee_id
GROUP BY ALL
"""
_CELLS = """
WITH flags AS (
    SELECT h.declaration_id, h.item_no,
           coalesce(bool_or(m.result = 'finding'), false) AS finding,
           coalesce(bool_or(m.selection_reason = 'random'), false) AS random
    FROM latest h
    JOIN marks m
      ON m.declaration_id = h.declaration_id AND (m.item_no IS NULL OR m.item_no = h.item_no)
    GROUP BY h.declaration_id, h.item_no
), counted AS (
    SELECT origin_country, mode, consignee_id,
           false AS inspected, false AS finding, false AS random, items
    FROM items
    WHERE filename IS NULL
    UNION ALL
    SELECT h.origin_country, h.mode, h.consignee_id,
           f.declaration_id IS NOT NULL AS inspected,
           coalesce(f.finding, false) AS finding,
           coalesce(f.random, false) AS random,
           1 AS items
    FROM latest h
    LEFT JOIN flags f ON f.declaration_id = h.declaration_id AND f.item_no = h.item_no
)
SELECT c.origin_country,
       coalesce(r.origin_region, 'unknown') AS origin_region,
       coalesce(b.trader_size, $smallest) AS trader_size,
       c.mode,
       false AS selected,
       c.inspected,
       c.finding,
       c.random,
       CAST(sum(c.items) AS BIGINT) AS _items
FROM counted c
LEFT JOIN regions r ON r.origin_country = c.origin_country
LEFT JOIN bands b ON b.consignee_id = c.consignee_id
GROUP BY ALL
"""


@contextmanager
def night_counts(
    window_paths: list[Path], tonight_paths: list[Path], marks: pl.DataFrame, scratch_beside: Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection holding the window of `window_paths` (files in date order) counted as
    above, and tonight's items from `tonight_paths` (the night's staged file, or none).

    `marks`: the window's inspections (declaration_id, item_no or null for the whole
    declaration, result, selection_reason). DuckDB spills to a scratch folder
    `.<name>.<random>.tmp` beside `scratch_beside`, which the date's sweep removes if a crash
    leaves it.
    """
    scratch_beside.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=f".{scratch_beside.name}.disparity.", suffix=TMP_SUFFIX, dir=scratch_beside.parent
    ) as scratch:
        db = duckdb.connect()
        try:
            db.execute("SET memory_limit = ?", [MEMORY_LIMIT])
            db.execute("SET temp_directory = ?", [scratch])
            db.execute("SET preserve_insertion_order = false")
            db.register("marks", marks)
            db.execute(_MARKED)
            if window_paths:
                source = {"paths": [str(p) for p in window_paths]}
                present = _columns_present(window_paths)
                db.execute(_DUPLICATED.format(keys=_projection(present, KEY)), source)
                db.execute(_ITEMS.format(columns=_projection(present, tuple(COLUMNS))), source)
            else:
                db.execute(f"CREATE TEMP TABLE items AS {_empty(_ITEM_COLUMNS)}")
            db.execute(_LATEST)
            if tonight_paths:
                present = _columns_present(tonight_paths)
                db.execute(
                    _TONIGHT.format(columns=_projection(present, tuple(COLUMNS))),
                    {"paths": [str(p) for p in tonight_paths]},
                )
            else:
                db.execute(f"CREATE TEMP TABLE tonight AS {_empty(_TONIGHT_COLUMNS)}")
            yield db
        finally:
            db.close()


def _alias(column: str) -> str:
    return "origin_country" if column == "country_of_origin" else column


def _columns_present(paths: list[Path]) -> set[str]:
    return set().union(*(pl.read_parquet_schema(p) for p in paths))


def _projection(present: set[str], columns: tuple[str, ...]) -> str:
    # Names and types come from COLUMNS, never from input: only the paths are data.
    return ", ".join(
        f"CAST({c if c in present else 'NULL'} AS {COLUMNS[c]}) AS {_alias(c)}" for c in columns
    )


_TONIGHT_COLUMNS = {_alias(c): t for c, t in COLUMNS.items()}
_ITEM_COLUMNS = {
    **_TONIGHT_COLUMNS,
    "filename": "VARCHAR",
    "file_row_number": "BIGINT",
    "items": "BIGINT",
}


def _empty(typed: dict[str, str]) -> str:
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in typed.items()) + " LIMIT 0"


def consignee_items(db: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Items per consignee in the window and tonight (consignee_id, `TRADER_ITEMS`); an item
    filed in both counts in both, as `disparity.with_groups` counts them."""
    found: pl.DataFrame = db.sql(_CONSIGNEES).pl()
    return found


def register_groups(
    db: duckdb.DuckDBPyConnection, regions: pl.DataFrame, bands: pl.DataFrame
) -> None:
    """Register the group tables both cell counts join: `regions` (origin_country,
    origin_region) and `bands` (consignee_id, trader_size)."""
    db.register("regions", regions)
    db.register("bands", bands)


def window_cells(db: duckdb.DuckDBPyConnection, smallest: str) -> pl.DataFrame:
    """The window's items counted per groups and flags (`disparity.cells`, `_items`), with the
    groups registered (`register_groups`); `smallest`: the band of a consignee not in `bands`.
    """
    found: pl.DataFrame = db.sql(_CELLS, params={"smallest": smallest}).pl()
    return found


def selection_cells(
    db: duckdb.DuckDBPyConnection,
    ranked: Path,
    lanes: tuple[str, ...],
    *,
    smallest: str,
) -> pl.DataFrame:
    """Tonight's list `ranked` counted per groups and flags (`disparity.cells`, `_items`):
    each list item with tonight's staged filing of it (none: its groups are unknown),
    `selected` when its lane is one of `lanes`, never inspected; groups as `window_cells`."""
    found: pl.DataFrame = db.sql(
        _SELECTION, params={"list": str(ranked), "lanes": list(lanes), "smallest": smallest}
    ).pl()
    return found
