"""Filing noise: rows that break the contract (for the quarantine) and amendments.

Invalid rows are never threat rows; each breaks exactly one rule and names it in `_invalid`.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from simulator.rows import container_numbers

INVALID_KINDS: tuple[str, ...] = (
    "missing_shipper_name",
    "unknown_port_of_loading",
    "malformed_port_of_loading",
    "non_positive_mass",
    "short_hs_code",
    "malformed_currency",
    "filed_in_future",
    "short_description",
    "bad_container_check_digit",
    "zero_packages",
    "unknown_country_of_origin",
    "missing_hs_code",
)


def _bad_container(rng: np.random.Generator) -> str:
    good = str(container_numbers(1, rng)[0])
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def break_rows(
    frame: pl.DataFrame, share: float, day: date, rng: np.random.Generator
) -> pl.DataFrame:
    """Corrupt about `share` of the non-threat rows, one broken rule per row."""
    eligible = np.flatnonzero(frame["_scenario"].is_null().to_numpy())
    count = min(int(rng.binomial(frame.height, share)) if frame.height else 0, eligible.size)
    chosen = rng.choice(eligible, size=count, replace=False)
    kinds = np.full(frame.height, None, dtype=object)
    kinds[chosen] = rng.choice(np.array(INVALID_KINDS), size=count)
    frame = frame.with_columns(pl.Series("_invalid", kinds.tolist(), dtype=pl.String()))
    kind = pl.col("_invalid")
    future = pl.lit(day + timedelta(days=10)).cast(pl.Datetime("us", "UTC"))

    def when(name: str, value: pl.Expr, column: str) -> pl.Expr:
        return pl.when(kind == name).then(value).otherwise(pl.col(column)).alias(column)

    return frame.with_columns(
        when("missing_shipper_name", pl.lit(None, pl.String()), "shipper_name"),
        pl.when(kind == "unknown_port_of_loading")
        .then(pl.lit("ZZ999"))
        .when(kind == "malformed_port_of_loading")
        .then(pl.col("port_of_loading").str.to_lowercase())
        .otherwise(pl.col("port_of_loading"))
        .alias("port_of_loading"),
        when("non_positive_mass", -pl.col("gross_mass_kg").abs(), "gross_mass_kg"),
        pl.when(kind == "short_hs_code")
        .then(pl.col("hs_code").str.slice(0, 5))
        .when(kind == "missing_hs_code")
        .then(pl.lit(None, pl.String()))
        .otherwise(pl.col("hs_code"))
        .alias("hs_code"),
        when("malformed_currency", pl.lit("EURO"), "currency"),
        when("filed_in_future", future, "filed_at"),
        when("short_description", pl.lit("x"), "goods_description"),
        when(
            "bad_container_check_digit",
            pl.lit([_bad_container(rng)], pl.List(pl.String())),
            "container_ids",
        ),
        when("zero_packages", pl.lit(0, pl.Int64()), "packages"),
        when("unknown_country_of_origin", pl.lit("UK"), "country_of_origin"),
    )


def add_amendments(frame: pl.DataFrame, share: float, rng: np.random.Generator) -> pl.DataFrame:
    """Re-send about `share` of the valid declarations later (same key, corrected mass)."""
    valid_ids = (
        frame.filter(pl.col("_invalid").is_null())
        .select(pl.col("declaration_id").unique(maintain_order=True))
        .to_series()
    )
    invalid_ids = frame.filter(pl.col("_invalid").is_not_null())["declaration_id"].unique()
    valid_ids = valid_ids.filter(~valid_ids.is_in(invalid_ids.implode()))
    count = int(rng.binomial(valid_ids.len(), share)) if valid_ids.len() else 0
    picked = valid_ids.gather(np.sort(rng.choice(valid_ids.len(), size=count, replace=False)))
    delay = pl.DataFrame(
        {
            "declaration_id": picked,
            "_delay_s": rng.integers(20 * 60, 30 * 3600, count),
            "_factor": rng.uniform(0.9, 1.1, count),
        }
    )
    amended = (
        frame.join(delay, on="declaration_id", how="inner", maintain_order="left")
        .with_columns(
            (pl.col("filed_at") + pl.duration(seconds=pl.col("_delay_s"))).alias("filed_at"),
            (pl.col("gross_mass_kg") * pl.col("_factor"))
            .round(2)
            .clip(0.01)
            .alias("gross_mass_kg"),
        )
        .drop("_delay_s", "_factor")
    )
    return pl.concat([frame, amended])
