"""Point-in-time history: per-entity state as known before a day, advanced one day at a time.

Grain: a state table holds one row per entity key (one shipper, one consignee, one pair, ...)
with first/last-seen dates and counts over every day before `as_of`; a rollup table holds the
same for one single day. `advance(state(D), rollup(D)) == state(D + 1)`, so a night reads one
snapshot and one day, however long the history is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from contracts import threats
from features.value import vpk_bin

COUNT_COLUMNS = (
    "n_items",
    "n_inspected",
    "n_findings",
    *(t.findings_column for t in threats.THREATS),
)
NO_DECLARANT = ""
"""Key of items filed without a declarant: they form one entity of their own."""


@dataclass(frozen=True)
class Entity:
    """Something history is kept for, identified by one or more key columns."""

    name: str
    keys: tuple[str, ...]
    with_outcomes: bool = True


ENTITIES: tuple[Entity, ...] = (
    Entity("global", ("scope",)),
    Entity("shipper", ("shipper_id",)),
    Entity("consignee", ("consignee_id",)),
    Entity("pair", ("shipper_id", "consignee_id")),
    Entity("declarant", ("declarant_id",)),
    Entity("lane", ("port_of_loading", "port_of_discharge")),
    Entity("hs6", ("hs6",)),
    Entity("hub", ("hub",)),
    Entity("hs6_value", ("hs6", "vpk_bin"), with_outcomes=False),
    Entity("hs2_value", ("hs2", "vpk_bin"), with_outcomes=False),
)
ENTITY_BY_NAME = {e.name: e for e in ENTITIES}

KEY_TYPES: dict[str, pl.DataType] = {"vpk_bin": pl.Int32()}
"""Key columns that are not strings."""

ATTRIBUTION_COLUMNS = (
    "declaration_id",
    "item_no",
    "filed_at",
    "shipper_id",
    "consignee_id",
    "declarant_id",
    "port_of_loading",
    "port_of_discharge",
    "transshipment_ports",
    "hs_code",
)
"""Declaration columns needed to credit an inspection to its entities."""


def state_schema(entity: Entity) -> dict[str, pl.DataType]:
    """Columns of a state or rollup table of `entity`."""
    schema: dict[str, pl.DataType] = {k: KEY_TYPES.get(k, pl.String()) for k in entity.keys}
    schema |= {"first_seen": pl.Date(), "last_seen": pl.Date()}
    schema |= {c: pl.Int64() for c in COUNT_COLUMNS}
    return schema


@dataclass(frozen=True)
class HistoryState:
    """Every entity's state as known before `as_of` (nothing filed or inspected on it or later)."""

    as_of: date
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pl.DataFrame:
        """One entity's state; an empty table when nothing is known yet."""
        if name in self.tables:
            return self.tables[name]
        return pl.DataFrame(schema=state_schema(ENTITY_BY_NAME[name]))


def empty_state(as_of: date) -> HistoryState:
    """The state before the first day: nothing known."""
    return HistoryState(as_of, {e.name: pl.DataFrame(schema=state_schema(e)) for e in ENTITIES})


def entity_keys(declarations: pl.LazyFrame) -> pl.LazyFrame:
    """Add the key columns entities group by (`scope`, `hs6`, `hs2`, a non-null `declarant_id`)."""
    return declarations.with_columns(
        pl.lit("all").alias("scope"),
        pl.col("hs_code").str.slice(0, 6).alias("hs6"),
        pl.col("hs_code").str.slice(0, 2).alias("hs2"),
        pl.col("declarant_id").fill_null(NO_DECLARANT),
    )


def _entity_rows(items: pl.LazyFrame, entity: Entity) -> pl.LazyFrame:
    if entity.name == "hub":
        rows = items.select("transshipment_ports", *_passthrough(items)).explode(
            "transshipment_ports"
        )
        return rows.rename({"transshipment_ports": "hub"}).filter(pl.col("hub").is_not_null())
    if entity.name in ("hs6_value", "hs2_value"):
        return items.filter(pl.col("vpk_bin").is_not_null())
    return items


def _passthrough(items: pl.LazyFrame) -> list[str]:
    extra = ("result", "finding_category", "_one")
    return [c for c in items.collect_schema().names() if c in extra]


def _aggregate(rows: pl.LazyFrame, entity: Entity, day: date, *, outcomes: bool) -> pl.LazyFrame:
    """One day's counts per key of `entity`, from filed items or from inspected items."""
    if outcomes:
        found = pl.col("result") == "finding"
        counts = [
            pl.len().cast(pl.Int64).alias("n_inspected"),
            found.sum().cast(pl.Int64).alias("n_findings"),
            *(
                (found & (pl.col("finding_category") == t.name))
                .sum()
                .cast(pl.Int64)
                .alias(t.findings_column)
                for t in threats.THREATS
            ),
        ]
        seen = [pl.lit(None, pl.Date).alias("first_seen"), pl.lit(None, pl.Date).alias("last_seen")]
    else:
        counts = [pl.len().cast(pl.Int64).alias("n_items")]
        seen = [pl.lit(day).alias("first_seen"), pl.lit(day).alias("last_seen")]
    return rows.group_by(list(entity.keys)).agg(*counts).with_columns(*seen)


def _merge(parts: list[pl.LazyFrame], entity: Entity) -> pl.LazyFrame:
    """Sum counts and widen seen-dates per key; sorted so reruns write identical bytes."""
    schema = state_schema(entity)
    aligned = [
        part.with_columns(
            [
                pl.lit(None, dtype).alias(c)
                for c, dtype in schema.items()
                if c not in part.collect_schema().names()
            ]
        ).select([pl.col(c).cast(dtype) for c, dtype in schema.items()])
        for part in parts
    ]
    return (
        pl.concat(aligned, how="vertical")
        .group_by(list(entity.keys))
        .agg(
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            *[pl.col(c).sum().cast(pl.Int64) for c in COUNT_COLUMNS],
        )
        .select(list(schema))
        .sort(list(entity.keys), nulls_last=True)
    )


def with_value_bins(declarations: pl.LazyFrame, currency_rates: pl.DataFrame) -> pl.LazyFrame:
    """Add `_units_per_usd` (null for an unknown currency) and the value-per-kg bin."""
    rates = currency_rates.lazy().select(
        pl.col("currency").cast(pl.String), pl.col("units_per_usd").cast(pl.Float64)
    )
    return (
        declarations.join(rates, on="currency", how="left", maintain_order="left")
        .rename({"units_per_usd": "_units_per_usd"})
        .with_columns(vpk_bin())
    )


def rollup_day(
    filed: pl.DataFrame,
    inspected: pl.DataFrame,
    day: date,
    currency_rates: pl.DataFrame,
) -> dict[str, pl.DataFrame]:
    """What day `day` adds to each entity: items filed on it and inspections made on it.

    `filed` is the day's declarations (contract columns); `inspected` is the day's outcomes
    already credited to items (`attribute_outcomes`).
    """
    items = with_value_bins(entity_keys(filed.lazy()), currency_rates)
    checked = entity_keys(inspected.lazy())
    tables = {}
    for entity in ENTITIES:
        parts = [_aggregate(_entity_rows(items, entity), entity, day, outcomes=False)]
        if entity.with_outcomes:
            parts.append(_aggregate(_entity_rows(checked, entity), entity, day, outcomes=True))
        tables[entity.name] = parts
    collected = pl.collect_all([_merge(p, ENTITY_BY_NAME[n]) for n, p in tables.items()])
    return dict(zip(tables, collected, strict=True))


def merge_rollups(rollups: Sequence[Mapping[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """One rollup of several (slices of one day's items): counts summed, seen-dates widened."""
    merged = [_merge([r[e.name].lazy() for r in rollups], e) for e in ENTITIES]
    return dict(zip((e.name for e in ENTITIES), pl.collect_all(merged), strict=True))


def advance(state: HistoryState, rollup: Mapping[str, pl.DataFrame]) -> HistoryState:
    """The state before `state.as_of + 1`: `state` plus the rollup of day `state.as_of`."""
    merged = [_merge([state.table(e.name).lazy(), rollup[e.name].lazy()], e) for e in ENTITIES]
    tables = pl.collect_all(merged)
    return HistoryState(
        state.as_of + timedelta(days=1), {e.name: t for e, t in zip(ENTITIES, tables, strict=True)}
    )


def attribute_outcomes(outcomes: pl.DataFrame, filed_items: pl.LazyFrame) -> pl.DataFrame:
    """Credit each inspection to the item(s) it covers: one row per (inspection, item).

    `filed_items` holds at least `ATTRIBUTION_COLUMNS` of the declarations an inspection may
    refer to; amendments are collapsed to the latest filing. An inspection without `item_no`
    covers every item of its declaration. Inspections of unknown declarations are dropped.
    """
    latest = (
        filed_items.select(ATTRIBUTION_COLUMNS)
        .sort("filed_at")
        .unique(["declaration_id", "item_no"], keep="last")
    )
    checks = outcomes.lazy().select("declaration_id", "item_no", "result", "finding_category")
    per_item = checks.filter(pl.col("item_no").is_not_null()).join(
        latest, on=["declaration_id", "item_no"], how="inner"
    )
    whole = (
        checks.filter(pl.col("item_no").is_null())
        .drop("item_no")
        .join(latest, on="declaration_id", how="inner")
    )
    return pl.concat([per_item, whole], how="diagonal").collect()
