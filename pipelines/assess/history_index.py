"""A history state indexed by entity key once, so a call reads only the rows it needs.

The night joins a whole day against whole state tables; a call of one declaration would pay the
same full-table joins (hundreds of thousands of shippers and pairs after a year) for a handful
of rows. `HistoryIndex` sorts each state table by its key once per refresh and, per call, finds
the rows of the call's keys by binary search (`search_sorted`, in Rust, no per-key Python
objects, so no extra memory beyond the sorted tables). `HistoryIndex.slice` returns a
`HistoryState` holding only those rows, which `features.build.build_features` reads exactly as
it reads the full state: a left join finds the same row or none, the histogram of an hs6 is
whole, the global table is kept whole. The features, and so the scores, are the night's.

Grain of a slice: for each entity, the state rows (one per key) whose key occurs in the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features.history import ENTITIES, HistoryState, entity_keys

KEY = "_lookup_key"
SEPARATOR = "\x1f"
"""Joins the parts of a two-column key; no contract identifier, LOCODE or hs6 holds it."""
WHOLE = ("global",)
"""Entities kept whole: `global` is one row that every call reads."""
BY_PREFIX = {"hs6_value": "hs6", "hs2_value": "hs2"}
"""Entities read by the first part of their key: every value bin of an hs6 goes to its median."""


def _key(columns: tuple[str, ...]) -> pl.Expr:
    parts = [pl.col(c).cast(pl.String) for c in columns]
    return (parts[0] if len(parts) == 1 else pl.concat_str(parts, separator=SEPARATOR)).alias(KEY)


@dataclass(frozen=True)
class _Sorted:
    table: pl.DataFrame
    key: pl.Series


def _sorted(table: pl.DataFrame, columns: tuple[str, ...]) -> _Sorted:
    ordered = table.with_columns(_key(columns)).sort(KEY, *table.columns, nulls_last=True)
    # Keys that are null can never be joined on, so they are left out of the search.
    ordered = ordered.filter(pl.col(KEY).is_not_null())
    return _Sorted(ordered.drop(KEY), ordered[KEY].rechunk())


def _request_keys(declarations: pl.DataFrame) -> dict[str, pl.Series]:
    """The distinct lookup keys of each entity among `declarations` (contract columns), sorted.

    One query with one row (a list of keys per entity): a query per entity cost ~2 ms a call,
    mostly Polars planning eight small queries.
    """
    lists: list[pl.Expr] = []
    for entity in ENTITIES:
        if entity.name in WHOLE:
            continue
        if entity.name == "hub":
            key = pl.col("transshipment_ports").explode().cast(pl.String)
        elif entity.name in BY_PREFIX:
            key = _key((BY_PREFIX[entity.name],))
        else:
            key = _key(entity.keys)
        lists.append(key.drop_nulls().unique().sort().implode().alias(entity.name))
    row = entity_keys(declarations.lazy()).select(lists).collect()
    return {name: row[name][0].alias(KEY) for name in row.columns}


class HistoryIndex:
    """One `HistoryState`, its tables sorted by key for point look-ups (built once a refresh)."""

    def __init__(self, state: HistoryState) -> None:
        self.as_of: date = state.as_of
        self._whole = {name: state.table(name) for name in WHOLE}
        self._sorted: dict[str, _Sorted] = {}
        for entity in ENTITIES:
            if entity.name in WHOLE:
                continue
            columns = (BY_PREFIX[entity.name],) if entity.name in BY_PREFIX else entity.keys
            self._sorted[entity.name] = _sorted(state.table(entity.name), columns)

    @property
    def rows(self) -> int:
        """Rows held over every table (for the log and the benchmark)."""
        held = sum(s.table.height for s in self._sorted.values())
        return held + sum(t.height for t in self._whole.values())

    def slice(self, declarations: pl.DataFrame) -> HistoryState:
        """The state restricted to the keys `declarations` carry: what their features read."""
        tables = dict(self._whole)
        for name, values in _request_keys(declarations).items():
            tables[name] = self._rows(name, values)
        return HistoryState(self.as_of, tables)

    def _rows(self, name: str, values: pl.Series) -> pl.DataFrame:
        held = self._sorted[name]
        if values.is_empty() or held.key.is_empty():
            return held.table.clear()
        low = held.key.search_sorted(values, side="left").to_numpy()
        if name in BY_PREFIX:
            high = held.key.search_sorted(values, side="right").to_numpy()
            spans = [np.arange(lo, hi) for lo, hi in zip(low, high, strict=True) if hi > lo]
            found = np.concatenate(spans) if spans else np.empty(0, dtype=np.int64)
        else:
            inside = low < held.key.len()
            candidates = low[inside]
            same = (held.key.gather(candidates) == values.filter(pl.Series(inside))).to_numpy()
            found = candidates[same]
        return held.table[found] if found.size else held.table.clear()
