"""A history state indexed by entity key once, so a call reads only the rows it needs.

The night joins a whole day against whole state tables; a call of one declaration would pay the
same full-table joins (hundreds of thousands of shippers and pairs after a year) for a handful
of rows. `HistoryIndex` sorts each state table by its key once per refresh and, per call, finds
the rows of the call's keys by binary search (`search_sorted`, in Rust, no per-key Python
objects, so no extra memory beyond the sorted tables; every entity's search in one query).
`HistoryIndex.slice` returns a `HistoryState` holding only those rows, which
`features.build.build_features` reads exactly as it reads the full state: a left join finds the
same row or none, the histogram of an hs6 is whole, the global table is kept whole. The
features, and so the scores, are the night's.

Grain of a slice: for each entity, the state rows (one per key) whose key occurs in the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from features.history import ENTITIES, ENTITY_BY_NAME, HistoryState, entity_keys

KEY = "_lookup_key"
SEPARATOR = "\x1f"
"""Joins the parts of a two-column key; no contract identifier, LOCODE or hs6 holds it."""
WHOLE = ("global",)
"""Entities kept whole: `global` is one row that every call reads."""
BY_PREFIX = {"hs6_value": "hs6", "hs2_value": "hs2"}
"""Entities read by the first part of their key: every value bin of an hs6 goes to its median."""
SMALL_QUERIES = pl.QueryOptFlags.none()
"""Polars' optimizations for a call's small queries (its spans, its features): none. On one row
of short lists, or a call's few rows, optimizing a plan costs more than running it as written
(decision 0032, pass 4)."""
LOW = ":low"
HIGH = ":high"
"""Suffixes of the span columns `HistoryIndex.spans` returns per entity."""
_ENDS: tuple[tuple[Literal["left", "right"], str], ...] = (("left", LOW), ("right", HIGH))
"""Each span's first row (`search_sorted` left) and the row past its last (right)."""


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


def _asked_keys(entity: str) -> pl.Expr:
    """The distinct lookup keys of `entity` among rows carrying the entity keys
    (`features.history.entity_keys`), sorted as the index sorts them."""
    if entity == "hub":
        key = pl.col("transshipment_ports").explode().cast(pl.String)
    elif entity in BY_PREFIX:
        key = _key((BY_PREFIX[entity],))
    else:
        key = _key(ENTITY_BY_NAME[entity].keys)
    return key.drop_nulls().unique().sort()


def _take(
    table: pl.DataFrame, low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]
) -> pl.DataFrame:
    """The rows of `table` in the spans [low, high) (disjoint, in increasing order)."""
    counts = high - low
    total = int(counts.sum())
    if not total:
        return table.clear()
    starts = np.cumsum(counts) - counts
    found = np.repeat(low, counts) + (np.arange(total) - np.repeat(starts, counts))
    if int(found[-1]) - int(found[0]) + 1 == total:
        # One run of rows (a single key, or neighbours): a view, not a gather.
        return table.slice(int(found[0]), total)
    gathered: pl.DataFrame = table[found]
    return gathered


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
        # Where each entity's asked keys start and end in its sorted keys, for every entity in
        # one query (`spans`): a search per entity was a query each, ~0.17 ms apiece.
        self._searches: tuple[pl.Expr, ...] = tuple(
            pl.lit(held.key)
            .search_sorted(_asked_keys(name), side=side)
            .implode()
            .alias(f"{name}{suffix}")
            for name, held in self._sorted.items()
            for side, suffix in _ENDS
        )

    @property
    def rows(self) -> int:
        """Rows held over every table (for the log and the benchmark)."""
        held = sum(s.table.height for s in self._sorted.values())
        return held + sum(t.height for t in self._whole.values())

    def spans(self, declarations: pl.DataFrame, *extra: pl.Expr) -> dict[str, pl.Series]:
        """Where the keys `declarations` (contract columns) carry sit in each sorted table, and
        the lists `extra` names (imploded expressions over the same rows), from one query of
        one row; each value is that row's list, as a Series. The service asks the reference
        keys in the same query (`pipelines.assess.references.ASKED`)."""
        # One row of short lists: the optimizer has nothing to gain on it (~0.2 ms saved).
        row = (
            entity_keys(declarations.lazy())
            .select(*self._searches, *extra)
            .collect(optimizations=SMALL_QUERIES)
        )
        return {name: row[name][0] for name in row.columns}

    def slice(
        self, declarations: pl.DataFrame, spans: dict[str, pl.Series] | None = None
    ) -> HistoryState:
        """The state restricted to the keys `declarations` carry: what their features read.
        `spans`: `self.spans(declarations, ...)` when the caller has them already."""
        found = self.spans(declarations) if spans is None else spans
        tables = dict(self._whole)
        for name, held in self._sorted.items():
            low = found[f"{name}{LOW}"].to_numpy().astype(np.int64)
            high = found[f"{name}{HIGH}"].to_numpy().astype(np.int64)
            tables[name] = _take(held.table, low, high)
        return HistoryState(self.as_of, tables)
