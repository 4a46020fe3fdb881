"""Value features: declared value in USD, value per kg and its place in the HS-6 distribution.

Grain: expressions over one row per declaration item; the HS-6 distribution is a histogram of
log10(USD per kg) in fixed bins, one row per (hs6, bin), summed over every day before the item's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import polars as pl

from features.feature import Feature

VPK_BIN_WIDTH = 0.1
"""Bin width in decades of USD per kg: fine enough for a median, coarse enough to stay small."""
MAD_FLOOR = VPK_BIN_WIDTH
"""A spread below one bin is not measurable; it also keeps the z-score finite."""
MIN_HS6_HISTORY = 5
"""Fewer past items than this give no robust z (the median of two values says little)."""
MAD_TO_SIGMA = 1.4826


def value_usd() -> pl.Expr:
    """Declared value converted to USD (null when the currency has no rate)."""
    return pl.col("declared_value") / pl.col("_units_per_usd")


def value_per_kg_usd() -> pl.Expr:
    """USD per kg of gross mass."""
    return value_usd() / pl.col("gross_mass_kg")


def vpk_bin() -> pl.Expr:
    """Histogram bin of log10(USD per kg); null for a zero or unconvertible value."""
    vpk = value_per_kg_usd()
    return (
        pl.when(vpk > 0)
        .then((vpk.log10() / VPK_BIN_WIDTH).floor())
        .otherwise(None)
        .cast(pl.Int32)
        .alias("vpk_bin")
    )


def value_stats(histogram: pl.DataFrame | pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Median and MAD of log10(USD per kg) per `key`, from a (key, vpk_bin, n_items) histogram.

    One row per key value: `<key>_vpk_n`, `<key>_log_vpk_median`, `<key>_log_vpk_mad`. Values
    sit at bin centres, so both are exact to half a bin.
    """
    steps = _value_stats_steps(key)
    return (
        histogram.lazy()
        .select(key, "vpk_bin", "n_items")
        .filter(steps.counted)
        .with_columns(steps.centre)
        .sort(key, "_centre")
        .with_columns(*steps.running)
        .with_columns(steps.median)
        .with_columns(steps.deviation)
        .sort(key, "_dev")
        .with_columns(steps.running_deviation)
        .group_by(key)
        .agg(*steps.summary)
    )


@dataclass(frozen=True)
class _ValueStatsSteps:
    counted: pl.Expr
    centre: pl.Expr
    running: tuple[pl.Expr, pl.Expr]
    median: pl.Expr
    deviation: pl.Expr
    running_deviation: pl.Expr
    summary: tuple[pl.Expr, pl.Expr, pl.Expr]


@cache
def _value_stats_steps(key: str) -> _ValueStatsSteps:
    """`value_stats`' expressions for `key`, built once: the service builds one HS-6 and one
    HS-2 table on every call, and building these was a fixed Python cost of each."""
    centre = (pl.col("vpk_bin").cast(pl.Float64) + 0.5) * VPK_BIN_WIDTH
    return _ValueStatsSteps(
        counted=pl.col("n_items") > 0,
        centre=centre.alias("_centre"),
        running=(
            pl.col("n_items").cum_sum().over(key).alias("_cum"),
            pl.col("n_items").sum().over(key).alias("_total"),
        ),
        median=pl.col("_centre")
        .filter(pl.col("_cum") * 2 >= pl.col("_total"))
        .first()
        .over(key)
        .alias("_median"),
        deviation=(pl.col("_centre") - pl.col("_median")).abs().alias("_dev"),
        running_deviation=pl.col("n_items").cum_sum().over(key).alias("_cum_dev"),
        summary=(
            pl.col("_total").first().alias(f"{key}_vpk_n"),
            pl.col("_median").first().alias(f"{key}_log_vpk_median"),
            pl.col("_dev")
            .filter(pl.col("_cum_dev") * 2 >= pl.col("_total"))
            .first()
            .alias(f"{key}_log_vpk_mad"),
        ),
    )


def hs6_value_stats(histogram: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """`value_stats` of the HS-6 subheadings: `hs6_vpk_n`, `hs6_log_vpk_median`, `..._mad`."""
    return value_stats(histogram, "hs6")


def _log_vpk() -> pl.Expr:
    vpk = value_per_kg_usd()
    return pl.when(vpk > 0).then(vpk.log10()).otherwise(None)


def _robust_z(key: str = "hs6") -> pl.Expr:
    spread = pl.max_horizontal(pl.col(f"{key}_log_vpk_mad"), pl.lit(MAD_FLOOR)) * MAD_TO_SIGMA
    return (
        pl.when(pl.col(f"{key}_vpk_n") >= MIN_HS6_HISTORY)
        .then((_log_vpk() - pl.col(f"{key}_log_vpk_median")) / spread)
        .otherwise(None)
    )


def _times_below_median() -> pl.Expr:
    return (
        pl.when(pl.col("hs6_vpk_n") >= MIN_HS6_HISTORY)
        .then(pl.lit(10.0).pow(pl.col("hs6_log_vpk_median") - _log_vpk()))
        .otherwise(None)
    )


FEATURES: tuple[Feature, ...] = (
    Feature(
        "value_usd_log10",
        "float",
        "log10 of the declared value in USD (null for zero value or unknown currency)",
        "declaration + reference:currency_rates",
        "declared value about {exp10:,.0f} USD",
        pl.when(value_usd() > 0).then(value_usd().log10()).otherwise(None),
    ),
    Feature(
        "value_is_zero",
        "bool",
        "declared value is zero",
        "declaration",
        "declared value is zero",
        pl.col("declared_value") == 0,
    ),
    Feature(
        "value_per_kg_usd",
        "float",
        "declared value in USD per kg of gross mass",
        "declaration + reference:currency_rates",
        "value {value:.2f} USD per kg",
        value_per_kg_usd(),
    ),
    Feature(
        "value_per_kg_robust_z",
        "float",
        "robust z of log10(USD per kg) against the HS-6 history: (x - median) / (1.4826 MAD); "
        f"null with fewer than {MIN_HS6_HISTORY} past items",
        "history:hs6_value",
        "value per kg {value:+.1f} robust standard deviations from the HS-6 norm",
        _robust_z(),
    ),
    Feature(
        "value_per_kg_times_below_hs6_median",
        "float",
        "how many times the HS-6 median USD per kg exceeds this item's (above 1: cheaper)",
        "history:hs6_value",
        "the HS-6 median value per kg is {value:.0f} times this item's",
        _times_below_median(),
    ),
    Feature(
        "hs6_value_history_n",
        "int",
        "number of earlier items of this HS-6 with a usable value per kg",
        "history:hs6_value",
        "{value:.0f} earlier items of this HS-6 subheading",
        pl.col("hs6_vpk_n").fill_null(0),
    ),
    Feature(
        "value_per_kg_robust_z_hs2",
        "float",
        "robust z of log10(USD per kg) against the HS chapter's (2-digit) history; "
        f"null with fewer than {MIN_HS6_HISTORY} past items",
        "history:hs2_value",
        "value per kg {value:+.1f} robust standard deviations from the HS chapter's norm",
        _robust_z("hs2"),
    ),
)
