"""Build one day's features from its declarations, the history before it and reference tables.

Grain of the result: one row per declaration item filed on the day: `KEY_COLUMNS`, then one
column per registry feature. Pure: frames in, a frame out.
"""

from __future__ import annotations

import polars as pl

from features.description import DESCRIPTION_KEY, description_keys, description_table
from features.history import ENTITY_BY_NAME, HistoryState, entity_keys, with_value_bins
from features.parties import AS_OF, PRIOR_FINDING_RATE, PRIOR_INSPECTION_RATE
from features.refs import References
from features.registry import FEATURES, KEY_COLUMNS
from features.route import ROUTE, ROW, hub_risk, route_key, route_legs
from features.strategic import strategic_threat
from features.value import hs6_value_stats, value_stats

JOINED_ENTITIES = ("shipper", "consignee", "pair", "declarant", "lane", "hs6")
STATE_COLUMNS = ("first_seen", "last_seen", "n_items", "n_inspected", "n_findings")
FEATURE_COLUMNS = tuple(f.column() for f in FEATURES)
"""The registry's columns, built once: rebuilding ~60 expressions was ~0.3 ms of every build."""
_ENTITY_SIDES: tuple[tuple[str, tuple[str, ...], tuple[pl.Expr, ...]], ...] = tuple(
    (
        name,
        ENTITY_BY_NAME[name].keys,
        (
            *[pl.col(k) for k in ENTITY_BY_NAME[name].keys],
            *[pl.col(c).alias(f"{name}__{c}") for c in STATE_COLUMNS],
        ),
    )
    for name in JOINED_ENTITIES
)
"""Each joined entity's name, keys and state columns as the item frame names them, built once."""
_THREAT_BY_TABLE: dict[int, tuple[pl.DataFrame, pl.Expr]] = {}
"""The strategic-threat expression of the last strategic table, by the table's identity (the
table is held with it, so its id cannot be reused while kept)."""


def _strategic_threat(strategic_hs: pl.DataFrame) -> pl.Expr:
    """`strategic_threat` of the HS code, built once for the table passed on every call.

    Building it was ~0.5 ms of a one-row build, the assessment service's case; reference tables
    are never changed in place, so the same table gives the same expression.
    """
    kept = _THREAT_BY_TABLE.get(id(strategic_hs))
    if kept is None:
        kept = (strategic_hs, strategic_threat(pl.col("hs_code"), strategic_hs).alias("_threat"))
        _THREAT_BY_TABLE.clear()
        _THREAT_BY_TABLE[id(strategic_hs)] = kept
    return kept[1]


def _priors(history: HistoryState) -> tuple[float, float]:
    """Overall finding and inspection rates before the day (0 when nothing is known)."""
    overall = history.table("global")
    items = int(overall["n_items"].sum())
    inspected = int(overall["n_inspected"].sum())
    findings = int(overall["n_findings"].sum())
    finding_rate = findings / inspected if inspected else 0.0
    inspection_rate = inspected / items if items else 0.0
    return finding_rate, inspection_rate


def _check_day(day_rows: pl.DataFrame, history: HistoryState) -> None:
    # The history holds everything before `as_of`; rows of any other day would leak or lag.
    # A Series comparison, not a query: nothing to plan on the service's one-row calls.
    off_day = day_rows.get_column("filed_at").dt.date() != history.as_of
    if off_day.any():
        other = day_rows.filter(off_day)
        first = other.row(0, named=True)
        raise ValueError(
            f"features for {history.as_of} got {other.height} row(s) filed on another day, e.g. "
            f"declaration {first['declaration_id']} item {first['item_no']} filed_at "
            f"{first['filed_at']}"
        )


def build_features(
    day_rows: pl.DataFrame,
    history: HistoryState,
    refs: References,
    *,
    optimizations: pl.QueryOptFlags | None = None,
) -> pl.DataFrame:
    """Features of every item filed on `history.as_of`, in the order of `day_rows`.

    `optimizations`: Polars' query optimizations for the base and side-table queries (default:
    all). The assessment service passes none: on a call's few rows, optimizing the plans cost
    more than running them; the result is the same frame (docs/decisions/0032, pass 4).
    """
    flags = pl.QueryOptFlags() if optimizations is None else optimizations
    _check_day(day_rows, history)
    finding_rate, inspection_rate = _priors(history)
    base = (
        with_value_bins(entity_keys(day_rows.lazy().with_row_index(ROW)), refs.currency_rates)
        .with_columns(
            pl.lit(finding_rate, pl.Float64).alias(PRIOR_FINDING_RATE),
            pl.lit(inspection_rate, pl.Float64).alias(PRIOR_INSPECTION_RATE),
            pl.lit(history.as_of, pl.Date).alias(AS_OF),
            route_key(),
            *description_keys(),
            _strategic_threat(refs.strategic_hs),
        )
        .collect(optimizations=flags)
    )
    histogram = (
        history.table("hs6_value")
        .lazy()
        .join(base.lazy().select("hs6").unique(), on="hs6", how="semi")
    )
    chapters = (
        history.table("hs2_value")
        .lazy()
        .join(base.lazy().select("hs2").unique(), on="hs2", how="semi")
    )
    side_tables: list[tuple[list[str], pl.LazyFrame]] = [
        (list(keys), history.table(name).lazy().select(*columns))
        for name, keys, columns in _ENTITY_SIDES
    ]
    side_tables += [
        (["hs6"], hs6_value_stats(histogram)),
        (["hs2"], value_stats(chapters, "hs2")),
        ([ROUTE], route_legs(base.lazy(), refs.locations)),
        ([ROW], hub_risk(base.lazy(), history.table("hub"))),
        ([DESCRIPTION_KEY], description_table(base.lazy(), refs.hs6)),
    ]
    # Each side table is aligned to the rows of `base` as a narrow frame (left joins keep the
    # order), so the wide item frame is assembled once instead of being copied by every join.
    lookups = pl.collect_all(
        [
            base.lazy()
            .select(keys)
            .join(table, on=keys, how="left", maintain_order="left")
            .drop(keys)
            for keys, table in side_tables
        ],
        optimizations=flags,
    )
    items = pl.concat([base, *lookups], how="horizontal")
    # Through `flags` too: an eager `select` optimizes the ~60-column plan on every call.
    return items.lazy().select(*KEY_COLUMNS, *FEATURE_COLUMNS).collect(optimizations=flags)
