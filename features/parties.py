"""History features of the parties, lane and HS-6 behind an item, as known the day before.

Grain: expressions over one row per declaration item, after the item has been joined to each
entity's state (columns `<entity>__<state column>`, see `features.build`).
"""

from __future__ import annotations

import polars as pl

from features.feature import Feature

PRIOR_WEIGHT = 20.0
"""Pseudo-count of the smoothing: about this many inspections before an entity speaks for itself."""

PRIOR_FINDING_RATE = "_prior_finding_rate"
PRIOR_INSPECTION_RATE = "_prior_inspection_rate"
AS_OF = "_as_of"


def state_col(entity: str, column: str) -> pl.Expr:
    """A state column joined onto the item (null when the entity has no history)."""
    return pl.col(f"{entity}__{column}")


def age_days(entity: str) -> pl.Expr:
    """Days since the entity was first seen; 0 when it is new today."""
    first = state_col(entity, "first_seen")
    return (pl.col(AS_OF) - first).dt.total_days().fill_null(0)


def count(entity: str, column: str) -> pl.Expr:
    """A count from the state; 0 for an entity never seen."""
    return state_col(entity, column).fill_null(0)


def smoothed_finding_rate(entity: str) -> pl.Expr:
    """Findings per inspection, shrunk towards the overall rate by `PRIOR_WEIGHT` inspections."""
    findings = count(entity, "n_findings").cast(pl.Float64)
    inspections = count(entity, "n_inspected").cast(pl.Float64)
    return (findings + PRIOR_WEIGHT * pl.col(PRIOR_FINDING_RATE)) / (inspections + PRIOR_WEIGHT)


def smoothed_inspection_rate(entity: str) -> pl.Expr:
    """Inspections per filed item, shrunk towards the overall rate by `PRIOR_WEIGHT` items."""
    inspections = count(entity, "n_inspected").cast(pl.Float64)
    items = count(entity, "n_items").cast(pl.Float64)
    return (inspections + PRIOR_WEIGHT * pl.col(PRIOR_INSPECTION_RATE)) / (items + PRIOR_WEIGHT)


def _party_features(entity: str, label: str) -> tuple[Feature, ...]:
    source = f"history:{entity}"
    return (
        Feature(
            f"{entity}_is_new",
            "bool",
            f"the {label} was never seen before the filing day",
            source,
            f"new {label}, never seen before",
            state_col(entity, "first_seen").is_null(),
        ),
        Feature(
            f"{entity}_age_days",
            "int",
            f"days since the {label} was first seen (0 when new)",
            source,
            f"{label} on record for {{value:.0f}} days before this filing",
            age_days(entity),
        ),
        Feature(
            f"{entity}_n_items",
            "int",
            f"items filed for the {label} before the filing day",
            source,
            f"{label} has {{value:.0f}} earlier items",
            count(entity, "n_items"),
        ),
        Feature(
            f"{entity}_n_inspected",
            "int",
            f"inspections of the {label}'s items before the filing day",
            source,
            f"{label} inspected {{value:.0f}} times before",
            count(entity, "n_inspected"),
        ),
        Feature(
            f"{entity}_n_findings",
            "int",
            f"inspections of the {label}'s items that found something, before the filing day",
            source,
            f"{{value:.0f}} earlier findings for this {label}",
            count(entity, "n_findings"),
        ),
        Feature(
            f"{entity}_finding_rate",
            "float",
            f"findings per inspection of the {label}, smoothed towards the overall rate "
            f"({PRIOR_WEIGHT:.0f} pseudo-inspections)",
            source,
            f"{label} finding rate {{value:.0%}}",
            smoothed_finding_rate(entity),
        ),
        Feature(
            f"{entity}_inspection_rate",
            "float",
            f"inspections per item of the {label}, smoothed towards the overall rate "
            f"({PRIOR_WEIGHT:.0f} pseudo-items)",
            source,
            f"{label} inspected on {{value:.0%}} of items",
            smoothed_inspection_rate(entity),
        ),
    )


FEATURES: tuple[Feature, ...] = (
    *_party_features("shipper", "shipper"),
    *_party_features("consignee", "consignee"),
    *_party_features("pair", "shipper-consignee pair"),
    *_party_features("declarant", "declarant"),
    Feature(
        "shipper_items_per_active_day",
        "float",
        "shipper's earlier items per day between its first and last filing day",
        "history:shipper",
        "shipper files about {value:.0f} items a day",
        count("shipper", "n_items")
        / (
            (state_col("shipper", "last_seen") - state_col("shipper", "first_seen")).dt.total_days()
            + 1
        ),
    ),
    Feature(
        "lane_n_items",
        "int",
        "items filed on the same port-of-loading to port-of-discharge lane before the filing day",
        "history:lane",
        "{value:.0f} earlier items on this lane",
        count("lane", "n_items"),
    ),
    Feature(
        "lane_finding_rate",
        "float",
        "smoothed findings per inspection on the lane",
        "history:lane",
        "lane finding rate {value:.0%}",
        smoothed_finding_rate("lane"),
    ),
    Feature(
        "hs6_n_items",
        "int",
        "items of the same HS-6 subheading filed before the filing day",
        "history:hs6",
        "{value:.0f} earlier items of this HS-6 subheading",
        count("hs6", "n_items"),
    ),
    Feature(
        "hs6_finding_rate",
        "float",
        "smoothed findings per inspection of the HS-6 subheading",
        "history:hs6",
        "HS-6 finding rate {value:.0%}",
        smoothed_finding_rate("hs6"),
    ),
)
