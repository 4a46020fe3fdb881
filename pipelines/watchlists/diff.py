"""What changed in a list between two stored versions.

Grain of the result: one row per entry that was added, removed, or whose names (primary or
aliases) changed, with the names added and removed.
"""

from __future__ import annotations

import polars as pl

from pipelines.settings import Settings
from pipelines.watchlists.store import read_entries

DIFF_SCHEMA: dict[str, pl.DataType] = {
    "change": pl.String(),
    "entry_id": pl.String(),
    "primary_name": pl.String(),
    "names_added": pl.List(pl.String()),
    "names_removed": pl.List(pl.String()),
}


def _names(entries: pl.DataFrame) -> pl.DataFrame:
    return entries.group_by("entry_id").agg(
        pl.col("name").filter(pl.col("name_quality") == "primary").first().alias("primary_name"),
        pl.col("name").unique().sort().alias("names"),
    )


def diff_entries(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Added, removed and changed entries from `old` to `new` (entry frames of one list)."""
    joined = _names(old).join(_names(new), on="entry_id", how="full", coalesce=True, suffix="_new")
    changes = joined.select(
        pl.when(pl.col("names").is_null())
        .then(pl.lit("added"))
        .when(pl.col("names_new").is_null())
        .then(pl.lit("removed"))
        .otherwise(pl.lit("changed"))
        .alias("change"),
        "entry_id",
        pl.coalesce("primary_name_new", "primary_name").alias("primary_name"),
        pl.col("names_new")
        .fill_null([])
        .list.set_difference(pl.col("names").fill_null([]))
        .list.sort()
        .alias("names_added"),
        pl.col("names")
        .fill_null([])
        .list.set_difference(pl.col("names_new").fill_null([]))
        .list.sort()
        .alias("names_removed"),
    )
    return (
        changes.filter(
            (pl.col("change") != "changed")
            | (pl.col("names_added").list.len() > 0)
            | (pl.col("names_removed").list.len() > 0)
        )
        .sort(["change", "entry_id"])
        .cast(DIFF_SCHEMA)  # type: ignore[arg-type]
    )


def diff_versions(settings: Settings, list_name: str, old: str, new: str) -> pl.DataFrame:
    """Differences between two stored versions of one list."""
    before = read_entries(settings, list_name, old)
    return diff_entries(before, read_entries(settings, list_name, new))
