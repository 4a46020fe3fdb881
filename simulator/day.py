"""One day of traffic: normal declarations, hidden threats and the noise of real filings.

Grain of the output: one row per goods item per filing (amendments re-send a key with a later
`filed_at`), in the declarations contract; the truth frame has one row per threat item.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from contracts.declarations import DECLARATIONS
from simulator.drafts import (
    DeclarationDraft,
    ItemDraft,
    concat_declarations,
    concat_items,
    draw_currencies,
    draw_modes,
    draw_routes,
    items_for_chapters,
)
from simulator.goods import FAMILIES, family_of_chapter, season_factor
from simulator.names import typo
from simulator.noise import add_amendments, break_rows
from simulator.rows import (
    MICROS_PER_DAY,
    carrier_codes,
    container_numbers,
    filed_micros,
    list_series,
    transit_days,
)
from simulator.threats import ThreatContext, draft_threats
from simulator.traders import CONSIGNEE, DECLARANT, LINES, SHIPPER
from simulator.world import World

TRUTH_SCHEMA = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "filed_date": pl.Date(),
    "scenario": pl.String(),
    "threat_category": pl.String(),
}


def item_counts(n_rows: int, mean_items: float, rng: np.random.Generator) -> np.ndarray:
    """Items per declaration (geometric, at most 30) summing to exactly `n_rows`."""
    if n_rows <= 0:
        return np.zeros(0, dtype=np.int64)
    guess = int(n_rows / mean_items * 1.2) + 10
    counts = np.minimum(rng.geometric(1.0 / mean_items, guess), 30)
    while counts.sum() < n_rows:
        counts = np.concatenate([counts, np.minimum(rng.geometric(1.0 / mean_items, guess), 30)])
    total = np.cumsum(counts)
    last = int(np.searchsorted(total, n_rows))
    counts = counts[: last + 1].copy()
    counts[-1] -= int(total[last] - n_rows)
    return counts.astype(np.int64)


def _weighted(
    pool: np.ndarray, weights: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    return np.asarray(rng.choice(pool, size=size, p=weights / weights.sum()))


def normal_traffic(
    world: World, day: date, n_rows: int, rng: np.random.Generator
) -> tuple[DeclarationDraft, ItemDraft]:
    """Ordinary declarations with `n_rows` items in all."""
    traders = world.traders
    index = world.day_index(day)
    counts = item_counts(n_rows, world.params.mean_items, rng)
    n = counts.size
    shippers = traders.active(SHIPPER, index)
    season = np.array([season_factor(f, day.month) for f in FAMILIES])
    shipper = _weighted(shippers, traders.size[shippers] * season[traders.family[shippers]], n, rng)
    chapter = traders.lines[shipper, rng.integers(0, LINES, n)]
    family = family_of_chapter(chapter)
    # Most shippers sell to consignees in the same trade; the rest to anyone.
    consignees = traders.active(CONSIGNEE, index)
    consignee = _weighted(consignees, traders.size[consignees], n, rng)
    regular = rng.random(n) < world.params.regular_consignee
    for fam in np.unique(family):
        same_trade = consignees[traders.family[consignees] == fam]
        hit = np.flatnonzero(regular & (family == fam))
        if same_trade.size and hit.size:
            consignee[hit] = _weighted(same_trade, traders.size[same_trade], hit.size, rng)
    declarants = traders.active(DECLARANT, index)
    declarant = traders.trader_id[_weighted(declarants, traders.size[declarants], n, rng)]
    declarant = np.where(rng.random(n) < 0.08, np.array(None, dtype=object), declarant)
    modes = draw_modes(family, rng)
    shipper_country = traders.country[shipper]
    loading, discharge, hubs, hub_counts = draw_routes(world, modes, shipper_country, rng)
    countries = np.array(list(world.params.shipper_countries))
    weights = np.array(list(world.params.shipper_countries.values()), dtype=float)
    origin = np.where(
        rng.random(n) < 0.85, shipper_country, _weighted(countries, weights, n, rng)
    ).astype(object)
    declarations = DeclarationDraft(
        shipper_id=traders.trader_id[shipper].astype(object),
        shipper_name=traders.name[shipper].astype(object),
        shipper_country=shipper_country.astype(object),
        consignee_id=traders.trader_id[consignee].astype(object),
        consignee_name=traders.name[consignee].astype(object),
        consignee_country=traders.country[consignee].astype(object),
        declarant_id=declarant.astype(object),
        mode=modes,
        port_of_loading=loading,
        port_of_discharge=discharge.astype(object),
        hubs=hubs,
        hub_counts=hub_counts,
        country_of_origin=origin,
        country_of_dispatch=country_prefix(loading),
        currency=draw_currencies(world, shipper_country, rng),
    )
    item_declaration = np.repeat(np.arange(n), counts)
    # Items mostly share the declaration's chapter; some come from the shipper's other lines.
    own_line = traders.lines[shipper[item_declaration], rng.integers(0, LINES, n_rows)]
    item_chapter = np.where(rng.random(n_rows) < 0.7, chapter[item_declaration], own_line)
    items = items_for_chapters(world, item_declaration, item_chapter, modes[item_declaration], rng)
    return declarations, items


def threat_counts(world: World, n_rows: int, rng: np.random.Generator) -> dict[str, int]:
    """Threat items per scenario for a day of `n_rows` rows, at the configured rates."""
    scenarios = world.scenarios
    if not scenarios or n_rows <= 0:
        return {}
    share = np.array([s.frequency for s in scenarios], dtype=float)
    share = share / share.sum()
    counts = rng.binomial(n_rows, np.minimum(world.params.threat_rate * share, 1.0))
    return {s.name: int(c) for s, c in zip(scenarios, counts, strict=True) if c > 0}


def _add_typos(declarations: DeclarationDraft, share: float, rng: np.random.Generator) -> None:
    for column in (declarations.shipper_name, declarations.consignee_name):
        for i in np.flatnonzero(rng.random(declarations.size) < share / 2):
            column[i] = typo(str(column[i]), rng)


def _text(values: np.ndarray) -> pl.Series:
    # Object arrays hold None for missing values; Polars reads them fastest as a Python list.
    return pl.Series(values.tolist(), dtype=pl.String())


def country_prefix(codes: np.ndarray) -> np.ndarray:
    """The country part (first two letters) of UN/LOCODEs."""
    return _text(codes).str.slice(0, 2).to_numpy()


def _national_digits(hs6: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Extend six-digit subheadings with 2 or 4 national digits for part of the rows."""
    n = hs6.len()
    kind = pl.Series(rng.choice(3, size=n, p=[0.6, 0.25, 0.15]))
    two = pl.Series(rng.integers(0, 100, n)).cast(pl.String).str.zfill(2)
    four = pl.Series(rng.integers(0, 10_000, n)).cast(pl.String).str.zfill(4)
    frame = pl.DataFrame({"hs6": hs6, "kind": kind, "two": two, "four": four})
    return frame.select(
        pl.when(pl.col("kind") == 0)
        .then(pl.col("hs6"))
        .when(pl.col("kind") == 1)
        .then(pl.col("hs6") + pl.col("two"))
        .otherwise(pl.col("hs6") + pl.col("four"))
    ).to_series()


_DECLARATION_TEXT = (
    "mode", "port_of_loading", "port_of_discharge", "country_of_origin", "country_of_dispatch",
    "shipper_id", "shipper_name", "shipper_country", "consignee_id", "consignee_name",
    "consignee_country", "declarant_id", "currency",
)  # fmt: skip


def render(
    world: World,
    day: date,
    declarations: DeclarationDraft,
    items: ItemDraft,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Contract rows for drafted declarations, with `_scenario` and `_category` (truth) columns.

    Rows come in filing order; items appear in a random order within their declaration, so a
    threat's position says nothing.
    """
    n = declarations.size
    serial = rng.choice(10**8, size=n, replace=False)
    filed = filed_micros(day, n, rng)
    modes = declarations.mode
    transit = transit_days(modes, declarations.hub_counts > 0, rng)
    arrival = pl.Series((filed // MICROS_PER_DAY + transit).astype("datetime64[D]")).cast(pl.Date())
    arrival = arrival.scatter(np.flatnonzero(rng.random(n) < 0.12), None)
    carrier = carrier_codes(modes, rng)
    carrier = np.where(rng.random(n) < 0.05, np.array(None, dtype=object), carrier)
    box_counts = np.where(modes == "sea", rng.choice([1, 2, 3], n, p=[0.7, 0.2, 0.1]), 0)
    box_counts = np.where(rng.random(n) < 0.04, 0, box_counts)
    rates = np.array([world.rates.get(str(c), 1.0) for c in np.unique(declarations.currency)])
    rate_of = dict(zip(np.unique(declarations.currency), rates, strict=True))
    per_declaration = pl.DataFrame(
        {name: _text(getattr(declarations, name)) for name in _DECLARATION_TEXT}
    ).with_columns(
        pl.concat_str(
            [
                pl.col("port_of_discharge").str.slice(0, 2),
                pl.lit(day.strftime("%y%m%d")),
                pl.Series(serial).cast(pl.String).str.zfill(8),
            ]
        ).alias("declaration_id"),
        pl.Series("filed_at", filed).cast(pl.Datetime("us", "UTC")),
        arrival.alias("expected_arrival"),
        _text(carrier).alias("carrier_code"),
        list_series("container_ids", container_numbers(int(box_counts.sum()), rng), box_counts),
        list_series("transshipment_ports", declarations.hubs, declarations.hub_counts),
        pl.Series("_rate", [rate_of[c] for c in declarations.currency], dtype=pl.Float64()),
    )
    order = np.lexsort(
        (rng.random(items.declaration.size), items.declaration, filed[items.declaration])
    )
    d = items.declaration[order]
    starts = np.r_[0, np.flatnonzero(np.diff(d)) + 1]
    item_no = np.arange(d.size) - np.repeat(starts, np.diff(np.r_[starts, d.size])) + 1
    rows = per_declaration.select(pl.all().gather(pl.Series(d)))
    frame = rows.with_columns(
        pl.Series("item_no", item_no, dtype=pl.Int64()),
        _national_digits(_text(items.hs_code[order]), rng).alias("hs_code"),
        _text(items.description[order]).alias("goods_description"),
        pl.Series("packages", items.packages[order], dtype=pl.Int64()),
        pl.Series("gross_mass_kg", items.gross_mass_kg[order], dtype=pl.Float64()),
        (pl.Series(items.usd_value[order]) * pl.col("_rate")).round(2).alias("declared_value"),
        _text(items.un_number[order]).alias("un_number"),
        _text(items.scenario[order]).alias("_scenario"),
        _text(items.category[order]).alias("_category"),
    )
    return frame.select(*DECLARATIONS.names, "_scenario", "_category").cast(
        DECLARATIONS.polars_schema  # type: ignore[arg-type]
    )


def generate_day(
    world: World,
    day: date,
    n: int,
    rng: np.random.Generator,
    context: ThreatContext | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """About `n` declaration rows filed on `day` (plus amendments) and the day's ground truth.

    Amendments may carry a `filed_at` on the next day; the stage moves those to that day's file.
    """
    declaration_parts: list[DeclarationDraft] = []
    item_parts: list[ItemDraft] = []
    planned = threat_counts(world, n, rng)
    context = context or ThreatContext.from_world(world, day)
    for scenario in world.scenarios:
        if planned.get(scenario.name):
            threat = draft_threats(world, scenario, planned[scenario.name], rng, context)
            declaration_parts.append(threat[0])
            item_parts.append(threat[1])
    threat_rows = sum(int(p.declaration.size) for p in item_parts)
    normal = normal_traffic(world, day, max(n - threat_rows, 0), rng)
    declaration_parts.insert(0, normal[0])
    item_parts.insert(0, normal[1])
    declarations = concat_declarations(declaration_parts)
    items = concat_items(item_parts, [p.size for p in declaration_parts])
    _add_typos(declarations, world.params.typo_share, rng)
    frame = render(world, day, declarations, items, rng)
    frame = break_rows(frame, world.params.invalid_share, day, rng)
    truth = (
        frame.filter(pl.col("_scenario").is_not_null())
        .select(
            "declaration_id",
            "item_no",
            pl.lit(day).alias("filed_date"),
            pl.col("_scenario").alias("scenario"),
            pl.col("_category").alias("threat_category"),
        )
        .cast(TRUTH_SCHEMA)  # type: ignore[arg-type]
    )
    # Amendments go last, as they arrive after the first filings.
    frame = add_amendments(frame, world.params.amendment_share, rng)
    return frame.select(*DECLARATIONS.names, "_invalid"), truth
