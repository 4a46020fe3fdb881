"""Great-circle distance between coordinates, as a Polars expression.

Grain: one value per row holding two (lat, lon) pairs in degrees.
"""

from __future__ import annotations

import polars as pl

EARTH_RADIUS_KM = 6371.0088


def great_circle_km(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Haversine distance in km (null when any coordinate is null)."""
    phi1, phi2 = lat1.radians(), lat2.radians()
    d_phi = phi2 - phi1
    d_lambda = (lon2 - lon1).radians()
    a = (d_phi / 2).sin().pow(2) + phi1.cos() * phi2.cos() * (d_lambda / 2).sin().pow(2)
    return 2 * EARTH_RADIUS_KM * a.sqrt().clip(upper_bound=1.0).arcsin()
