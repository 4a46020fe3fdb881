"""Reference tables cut down to the keys a call carries, for `features.build.build_features`.

The features join a call's rows to the LOCODE table (~115 k rows) for route distances and to
the HS6 table (~5.6 k rows, every description stemmed on each build) for the description
overlap: on one row that was about half of building its features. A left join on a key finds
exactly the rows of the table holding that key, so the table filtered to the call's keys gives
the same rows, in the same order, and so the same features (tests/test_assess_service.py checks
the scores bit for bit; tests/test_assess_references.py checks the features).

Grain: the rows of each reference table whose key occurs among the call's rows.
"""

from __future__ import annotations

import polars as pl

from features.history import entity_keys
from features.refs import References


def call_references(refs: References, declarations: pl.DataFrame) -> References:
    """`refs` with locations cut to the call's ports and hs6 to the call's HS6 headings; the
    small tables (strategic prefixes, currency rates) are kept whole."""
    ports = pl.concat_list(
        pl.col("port_of_loading"),
        pl.col("port_of_discharge"),
        pl.col("transshipment_ports").fill_null(pl.lit([], pl.List(pl.String))),
    )
    # The hs6 key as the features compute it (features.history.entity_keys).
    asked = (
        entity_keys(declarations.lazy())
        .select(
            ports.explode().drop_nulls().unique().implode().alias("ports"),
            pl.col("hs6").drop_nulls().unique().implode().alias("hs6"),
        )
        .collect()
    )
    return References(
        refs.locations.filter(pl.col("locode").cast(pl.String).is_in(asked["ports"].explode())),
        refs.hs6.filter(pl.col("hs6").cast(pl.String).is_in(asked["hs6"].explode())),
        refs.strategic_hs,
        refs.currency_rates,
    )
