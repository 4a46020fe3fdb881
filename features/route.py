"""Route features: transshipments, hub risk and the detour against the great circle.

Grain: one row per declaration item; `route_legs` and `hub_risk` return one row per item row
index (`_row`) to join back.
"""

from __future__ import annotations

import polars as pl

from features.feature import Feature
from features.geo import great_circle_km
from features.parties import PRIOR_FINDING_RATE, PRIOR_WEIGHT

ROW = "_row"


def _coordinates(locations: pl.DataFrame) -> pl.LazyFrame:
    return locations.lazy().select(
        pl.col("locode").cast(pl.String),
        pl.col("lat").cast(pl.Float64),
        pl.col("lon").cast(pl.Float64),
    )


def route_legs(items: pl.LazyFrame, locations: pl.DataFrame) -> pl.LazyFrame:
    """Direct and routed great-circle km per item: `_row`, `_direct_km`, `_route_km`.

    The route runs loading port -> each transshipment port in order -> discharge port; it is
    null when any port on it has no coordinates. Distances are worked out once per distinct
    route (far fewer than items) and joined back.
    """
    coords = _coordinates(locations)
    stops = pl.concat_list(
        pl.col("port_of_loading"),
        pl.col("transshipment_ports").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("port_of_discharge"),
    )
    keyed = items.select(ROW, stops.list.join(">").alias("_route"))
    routes = keyed.select("_route").unique()
    legs = (
        routes.with_columns(
            pl.col("_route").str.split(">").alias("_stop"),
            pl.int_ranges(0, pl.col("_route").str.count_matches(">") + 1).alias("_stop_no"),
        )
        .explode("_stop", "_stop_no")
        .join(coords, left_on="_stop", right_on="locode", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("_stop_no") > 0)
            .then(
                great_circle_km(
                    pl.col("lat").shift(1), pl.col("lon").shift(1), pl.col("lat"), pl.col("lon")
                )
            )
            .alias("_leg_km")
        )
    )
    per_route = legs.group_by("_route").agg(
        pl.when(pl.col("lat").is_null().any() | pl.col("lon").is_null().any())
        .then(None)
        .otherwise(pl.col("_leg_km").sum())
        .alias("_route_km"),
        great_circle_km(
            pl.col("lat").first(), pl.col("lon").first(), pl.col("lat").last(), pl.col("lon").last()
        ).alias("_direct_km"),
    )
    return keyed.join(per_route, on="_route", how="left").select(ROW, "_direct_km", "_route_km")


def hub_risk(items: pl.LazyFrame, hub_state: pl.DataFrame) -> pl.LazyFrame:
    """Riskiest transshipment hub per item: `_row`, `_hub_finding_rate`, `_hub_min_items`.

    The finding rate is smoothed like the parties' (needs `_prior_finding_rate` on `items`).
    """
    hubs = hub_state.lazy().select("hub", "n_items", "n_inspected", "n_findings")
    rate = (pl.col("n_findings").fill_null(0) + PRIOR_WEIGHT * pl.col(PRIOR_FINDING_RATE)) / (
        pl.col("n_inspected").fill_null(0) + PRIOR_WEIGHT
    )
    return (
        items.select(ROW, PRIOR_FINDING_RATE, pl.col("transshipment_ports").alias("hub"))
        .explode("hub")
        .filter(pl.col("hub").is_not_null())
        .join(hubs, on="hub", how="left")
        .group_by(ROW)
        .agg(
            rate.max().alias("_hub_finding_rate"),
            pl.col("n_items").fill_null(0).min().alias("_hub_min_items"),
        )
    )


FEATURES: tuple[Feature, ...] = (
    Feature(
        "n_transshipments",
        "int",
        "number of transshipment ports on the route",
        "declaration",
        "{value:.0f} transshipments",
        pl.col("transshipment_ports").list.len().fill_null(0),
    ),
    Feature(
        "route_direct_km",
        "float",
        "great-circle km from the loading port to the discharge port",
        "declaration + reference:locations",
        "{value:,.0f} km from loading to discharge port",
        pl.col("_direct_km"),
    ),
    Feature(
        "route_detour_ratio",
        "float",
        "routed km via the transshipment ports over the direct great-circle km (1 = direct)",
        "declaration + reference:locations",
        "route {value:.1f}x longer than the direct way",
        pl.when(pl.col("_direct_km") > 0).then(pl.col("_route_km") / pl.col("_direct_km")),
    ),
    Feature(
        "origin_differs_from_dispatch",
        "bool",
        "country of origin differs from country of dispatch",
        "declaration",
        "origin country differs from dispatch country",
        pl.col("country_of_origin") != pl.col("country_of_dispatch"),
    ),
    Feature(
        "dispatch_differs_from_shipper_country",
        "bool",
        "country of dispatch differs from the shipper's country",
        "declaration",
        "dispatched from outside the shipper's country",
        pl.col("country_of_dispatch") != pl.col("shipper_country"),
    ),
    Feature(
        "hub_finding_rate",
        "float",
        "highest smoothed finding rate among the transshipment hubs (null without a hub)",
        "history:hub",
        "passes a hub with a {value:.0%} finding rate",
        pl.col("_hub_finding_rate"),
    ),
    Feature(
        "hub_min_n_items",
        "int",
        "earlier items through the least-used transshipment hub (null without a hub)",
        "history:hub",
        "passes a hub with only {value:.0f} earlier items",
        pl.col("_hub_min_items"),
    ),
)
