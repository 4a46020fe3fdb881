"""Route features: transshipments, hub risk and the detour against the great circle.

Grain: one row per declaration item; `route_legs` returns one row per distinct route (`_route`)
and `hub_risk` one row per item with a hub (`_row`), to be joined back.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from features.feature import Feature
from features.geo import great_circle_km
from features.parties import PRIOR_FINDING_RATE, PRIOR_WEIGHT

ROW = "_row"
ROUTE = "_route"


def _coordinates(locations: pl.DataFrame) -> pl.LazyFrame:
    return locations.lazy().select(*_COORDINATES)


_COORDINATES = (
    pl.col("locode").cast(pl.String),
    pl.col("lat").cast(pl.Float64),
    pl.col("lon").cast(pl.Float64),
)


def route_key() -> pl.Expr:
    """A 64-bit hash of the route (loading port, transshipment ports in order, discharge port).

    Only a join key within one run; hashing is far cheaper than building a string per item.
    """
    return (
        pl.struct("port_of_loading", "transshipment_ports", "port_of_discharge").hash().alias(ROUTE)
    )


def route_legs(items: pl.LazyFrame, locations: pl.DataFrame) -> pl.LazyFrame:
    """Direct and routed great-circle km per distinct route: `_route`, `_direct_km`, `_route_km`.

    `items` carries `_route` (`route_key`). The routed distance is null when any port on the
    route has no coordinates. Worked out once per distinct route, far fewer than items.
    """
    stops, stop_no, leg_km, per_route = _route_steps()
    legs = (
        items.select(ROUTE, "port_of_loading", "transshipment_ports", "port_of_discharge")
        .unique(subset=[ROUTE])
        .select(ROUTE, stops)
        .with_columns(stop_no)
        .explode("_stop", "_stop_no")
        .join(
            _coordinates(locations),
            left_on="_stop",
            right_on="locode",
            how="left",
            maintain_order="left",
        )
        .with_columns(leg_km)
    )
    return legs.group_by(ROUTE).agg(*per_route)


@cache
def _route_steps() -> tuple[pl.Expr, pl.Expr, pl.Expr, tuple[pl.Expr, pl.Expr]]:
    """`route_legs`' expressions, built once: the service builds the legs of every call, and
    building these in Python was a fixed cost of each (decision 0032, pass 6)."""
    stops = pl.concat_list(
        pl.col("port_of_loading"),
        pl.col("transshipment_ports").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("port_of_discharge"),
    )
    leg_km = (
        pl.when(pl.col("_stop_no") > 0)
        .then(
            great_circle_km(
                pl.col("lat").shift(1), pl.col("lon").shift(1), pl.col("lat"), pl.col("lon")
            )
        )
        .alias("_leg_km")
    )
    per_route = (
        great_circle_km(
            pl.col("lat").first(), pl.col("lon").first(), pl.col("lat").last(), pl.col("lon").last()
        ).alias("_direct_km"),
        pl.when(pl.col("lat").is_null().any() | pl.col("lon").is_null().any())
        .then(None)
        # Added leg by leg, in order: a SIMD sum's lane order depends on how the batch's groups
        # are laid out, so the last bit of a route would differ between a day and one port.
        .otherwise(pl.col("_leg_km").cum_sum().last())
        .alias("_route_km"),
    )
    return (
        stops.alias("_stop"),
        pl.int_ranges(0, pl.col("_stop").list.len()).alias("_stop_no"),
        leg_km,
        per_route,
    )


def hub_risk(items: pl.LazyFrame, hub_state: pl.DataFrame) -> pl.LazyFrame:
    """Riskiest transshipment hub per item: `_row`, `_hub_finding_rate`, `_hub_min_items`.

    The finding rate is smoothed like the parties' (needs `_prior_finding_rate` on `items`).
    """
    hub, known, per_item = _hub_steps()
    return (
        items.select(ROW, PRIOR_FINDING_RATE, hub)
        .explode("hub")
        .filter(known)
        .join(
            hub_state.lazy().select("hub", "n_items", "n_inspected", "n_findings"),
            on="hub",
            how="left",
        )
        .group_by(ROW)
        .agg(*per_item)
    )


@cache
def _hub_steps() -> tuple[pl.Expr, pl.Expr, tuple[pl.Expr, pl.Expr]]:
    """`hub_risk`'s expressions, built once (as `_route_steps`)."""
    rate = (pl.col("n_findings").fill_null(0) + PRIOR_WEIGHT * pl.col(PRIOR_FINDING_RATE)) / (
        pl.col("n_inspected").fill_null(0) + PRIOR_WEIGHT
    )
    return (
        pl.col("transshipment_ports").alias("hub"),
        pl.col("hub").is_not_null(),
        (
            rate.max().alias("_hub_finding_rate"),
            pl.col("n_items").fill_null(0).min().alias("_hub_min_items"),
        ),
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
