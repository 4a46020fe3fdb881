"""Features of the item as filed: transport mode, mass, packages and containers.

Grain: expressions over one row per declaration item, using only that row.
"""

from __future__ import annotations

import polars as pl

from contracts.declarations import MODES
from features.feature import Feature
from features.history import NO_DECLARANT

MODE_CODES: dict[str, int] = {mode: code for code, mode in enumerate(MODES, start=1)}
"""Stable integer codes, fixed by the contract's order of modes (0 = unknown)."""

FEATURES: tuple[Feature, ...] = (
    Feature(
        "mode_code",
        "int",
        "transport mode: " + ", ".join(f"{c} {m}" for m, c in MODE_CODES.items()),
        "declaration",
        "transport mode code {value:.0f}",
        pl.col("mode").replace_strict(MODE_CODES, default=0, return_dtype=pl.Int32),
    ),
    Feature(
        "gross_mass_kg_log10",
        "float",
        "log10 of the gross mass in kg",
        "declaration",
        "gross mass about {exp10:,.0f} kg",
        pl.col("gross_mass_kg").log10(),
    ),
    Feature(
        "weight_per_package_kg",
        "float",
        "gross mass per package in kg",
        "declaration",
        "{value:.1f} kg per package",
        pl.col("gross_mass_kg") / pl.col("packages"),
    ),
    Feature(
        "packages",
        "int",
        "number of packages",
        "declaration",
        "{value:.0f} packages",
        pl.col("packages"),
    ),
    Feature(
        "n_containers",
        "int",
        "number of containers named",
        "declaration",
        "{value:.0f} containers",
        pl.col("container_ids").list.len().fill_null(0),
    ),
    Feature(
        "has_declarant",
        "bool",
        "a broker or forwarder filed the declaration",
        "declaration",
        "filed through a broker or forwarder",
        pl.col("declarant_id").fill_null(NO_DECLARANT) != NO_DECLARANT,
    ),
    Feature(
        "consignee_abroad",
        "bool",
        "the consignee's country differs from the discharge port's country",
        "declaration",
        "consignee outside the country of discharge",
        pl.col("consignee_country") != pl.col("port_of_discharge").str.slice(0, 2),
    ),
)
