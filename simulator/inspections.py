"""Inspections under the legacy selection policy: simple rules, a capacity per port, a random quota.

Grain of the output: one inspection of one declaration (outcomes contract). Only valid
declarations can be selected; findings happen only where a threat is present, and an inspection
misses a present threat with probability 1 - detection_probability.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from contracts.outcomes import OUTCOMES
from simulator.goods import FAMILIES
from simulator.world import LegacyPolicy, World

# UN numbers of class 7 (radioactive material) that the old rules of some services look at.
RADIOACTIVE_UN = tuple(str(n) for n in (*range(2908, 2920), 2977, 2978, *range(3321, 3334)))
RULES = (
    "sensitive_hs", "generic_words", "risky_country", "dense_parcel", "very_low_value",
    "radioactive_un",
)  # fmt: skip


def legacy_rule_hits(rows: pl.DataFrame, world: World) -> pl.DataFrame:
    """Weighted rule hits per declaration (`hits`) and one flag per rule in RULES."""
    return rule_hits(rows, world.params.legacy, world.rates)


def rule_hits(rows: pl.DataFrame, policy: LegacyPolicy, rates: dict[str, float]) -> pl.DataFrame:
    """The legacy policy's weighted hits per declaration of `rows` (declarations contract)."""
    medians = {f"{c:02d}": family.usd_per_kg for family in FAMILIES for c in family.chapters}
    rate_table = pl.DataFrame(
        {"currency": list(rates), "_rate": list(rates.values())},
        schema={"currency": pl.String(), "_rate": pl.Float64()},
    )
    usd_per_kg = pl.col("declared_value") / pl.col("_rate") / pl.col("gross_mass_kg")
    median = pl.col("hs_code").str.slice(0, 2).replace_strict(medians, default=10.0)
    return (
        rows.join(rate_table, on="currency", how="left")
        .with_columns(pl.col("_rate").fill_null(1.0))
        .group_by("declaration_id")
        .agg(
            pl.col("port_of_discharge").first(),
            pl.col("filed_at").max(),
            pl.col("hs_code").str.contains(policy.sensitive_hs).any().alias("sensitive_hs"),
            (
                pl.col("country_of_origin").is_in(policy.risky_countries)
                | pl.col("country_of_dispatch").is_in(policy.risky_countries)
            )
            .any()
            .alias("risky_country"),
            pl.col("goods_description")
            .str.contains(policy.generic_words)
            .any()
            .alias("generic_words"),
            (usd_per_kg < median * policy.low_value_share).any().alias("very_low_value"),
            (
                pl.col("mode").is_in(["air", "courier", "post"])
                & (pl.col("gross_mass_kg") / pl.col("packages") > policy.dense_kg_per_package)
            )
            .any()
            .alias("dense_parcel"),
            pl.col("un_number").is_in(RADIOACTIVE_UN).any().alias("radioactive_un"),
        )
        .with_columns(
            pl.sum_horizontal(
                pl.col(rule).cast(pl.Int64) * policy.weights.get(rule, 0) for rule in RULES
            ).alias("hits")
        )
        .sort("declaration_id")
    )


def inspect_day(
    world: World,
    declarations: pl.DataFrame,
    truth: pl.DataFrame,
    rng: np.random.Generator,
    notes: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Outcomes (contract columns) for the valid declarations of one day's filings.

    `declarations` may carry `_invalid`; a declaration with any invalid row is never inspected.
    `notes` maps scenario name -> the inspector's note on a finding. A finding is one row per
    threat line of the declaration (each with its `item_no`); no finding is one row without.
    """
    params = world.params
    invalid = (
        declarations.filter(pl.col("_invalid").is_not_null())["declaration_id"].unique()
        if "_invalid" in declarations.columns
        else pl.Series([], dtype=pl.String())
    )
    latest = (
        declarations.filter(~pl.col("declaration_id").is_in(invalid.implode()))
        .sort("filed_at")
        .unique(["declaration_id", "item_no"], keep="last")
    )
    if latest.is_empty():
        return OUTCOMES.empty_frame()
    per_declaration = legacy_rule_hits(latest, world)
    n = per_declaration.height
    tie_break = rng.random(n)
    per_declaration = per_declaration.with_columns(pl.Series("_tie", tie_break))
    ranked = per_declaration.sort(["hits", "_tie"], descending=[True, False]).with_columns(
        pl.int_range(pl.len()).over("port_of_discharge").alias("_rank"),
        pl.len().over("port_of_discharge").alias("_port_count"),
    )
    capacity = (pl.col("_port_count") * params.inspection_capacity).ceil()
    ranked = ranked.with_columns(
        ((pl.col("hits") > 0) & (pl.col("_rank") < capacity)).alias("_by_rule")
    ).sort("declaration_id")
    random_pick = rng.random(ranked.height) < params.random_quota
    ranked = ranked.with_columns(
        pl.when(pl.col("_by_rule"))
        .then(pl.lit("rule"))
        .when(pl.Series(random_pick))
        .then(pl.lit("random"))
        .otherwise(pl.lit(None, pl.String()))
        .alias("selection_reason")
    ).filter(pl.col("selection_reason").is_not_null())
    # Every threat line of a declaration (a scenario's `threat_lines`) is found by its one
    # examination and recorded as a finding row of its own, as inspectors record each seized line.
    threats = (
        truth.sort("item_no")
        .group_by("declaration_id")
        .agg(
            pl.col("item_no").alias("_lines"),
            pl.col("scenario").first(),
            pl.col("threat_category").first(),
        )
    )
    selected = ranked.join(threats, on="declaration_id", how="left").sort("declaration_id")
    m = selected.height
    detected = rng.random(m) < params.detection_probability
    lag_seconds = rng.integers(2 * 3600, 96 * 3600, m)
    inspector = rng.integers(1, 13, m)
    found = pl.col("scenario").is_not_null() & pl.Series(detected)
    note_map = notes or {}
    return (
        selected.select(
            "declaration_id",
            pl.when(found).then(pl.col("_lines")).otherwise(None).alias("item_no"),
            (pl.col("filed_at") + pl.duration(seconds=pl.lit(pl.Series(lag_seconds)))).alias(
                "inspected_at"
            ),
            "selection_reason",
            pl.when(found).then(pl.lit("finding")).otherwise(pl.lit("no_finding")).alias("result"),
            pl.when(found)
            .then(pl.col("threat_category"))
            .otherwise(None)
            .alias("finding_category"),
            pl.concat_str(
                [
                    pl.col("port_of_discharge"),
                    pl.lit("-I"),
                    pl.Series(inspector).cast(pl.String).str.zfill(2),
                ]
            ).alias("inspector_id"),
            pl.when(found)
            .then(pl.col("scenario").replace_strict(note_map, default="controlled goods found"))
            .otherwise(None)
            .alias("notes"),
        )
        .explode("item_no")
        .cast(OUTCOMES.polars_schema)  # type: ignore[arg-type]
    )
