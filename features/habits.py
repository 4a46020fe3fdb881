"""Habit features: is this filing like what its parties usually file.

Grain: expressions over one row per declaration item, after the item has been joined to the
`consignee_hs2` and `shipper_wording` states (columns `<entity>__<state column>`, see
`features.build`). Items per declaration is left out: the assessment service may receive a
declaration's items over several calls, so a count over the call's rows would differ from the
night's (decision 0035).
"""

from __future__ import annotations

import polars as pl

from features.feature import Feature
from features.parties import count


def _share_of_consignee() -> pl.Expr:
    """The consignee's earlier items in this chapter over all its earlier items (null if new)."""
    total = count("consignee", "n_items").cast(pl.Float64)
    in_chapter = count("consignee_hs2", "n_items").cast(pl.Float64)
    return pl.when(total > 0).then(in_chapter / total).otherwise(None)


FEATURES: tuple[Feature, ...] = (
    Feature(
        "consignee_hs2_n_items",
        "int",
        "items of this HS chapter (2-digit) filed for the consignee before the filing day",
        "history:consignee_hs2",
        "consignee has {value:.0f} earlier items of this HS chapter",
        count("consignee_hs2", "n_items"),
    ),
    Feature(
        "consignee_hs2_share",
        "float",
        "share of the consignee's earlier items that were of this HS chapter (null when new)",
        "history:consignee_hs2",
        "{value:.0%} of the consignee's earlier items were of this HS chapter",
        _share_of_consignee(),
    ),
    Feature(
        "shipper_wording_n_items",
        "int",
        "earlier items the shipper filed with this exact goods wording (case and spacing aside)",
        "history:shipper_wording",
        "shipper used this goods wording on {value:.0f} earlier items",
        count("shipper_wording", "n_items"),
    ),
)
