"""The reference tables features read, passed in as frames (features never open files).

Grain: one `References` bundles four lookup tables, each one row per code: locations (per
UN/LOCODE), HS-6 subheadings, strategic HS prefixes and currency rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

LOCATION_COLUMNS = ("locode", "lat", "lon")
HS6_COLUMNS = ("hs6", "description")
STRATEGIC_COLUMNS = ("hs_prefix", "threat", "category")
RATE_COLUMNS = ("currency", "units_per_usd")


@dataclass(frozen=True)
class References:
    """Lookup tables in the shapes of `contracts.reference` (extra columns are ignored)."""

    locations: pl.DataFrame
    hs6: pl.DataFrame
    strategic_hs: pl.DataFrame
    currency_rates: pl.DataFrame

    def __post_init__(self) -> None:
        for label, frame, needed in (
            ("locations", self.locations, LOCATION_COLUMNS),
            ("hs6", self.hs6, HS6_COLUMNS),
            ("strategic_hs", self.strategic_hs, STRATEGIC_COLUMNS),
            ("currency_rates", self.currency_rates, RATE_COLUMNS),
        ):
            missing = [c for c in needed if c not in frame.columns]
            if missing:
                raise ValueError(f"reference table {label} lacks column(s) {', '.join(missing)}")
