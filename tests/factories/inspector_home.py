"""The inspector sample home as a nightly run leaves it: staging rows with their loading
bookkeeping (`_source_file`, `_sha256`) and a quarantine partition of three rejections."""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines import layout
from pipelines.io import write_parquet
from pipelines.settings import Settings

SHA256 = "ab" * 32
SOURCE = "landing/declarations/decl_2026-03-10.csv"


def add_run_leftovers(settings: Settings, day: date) -> None:
    """Add the bookkeeping columns to `day`'s staging and write its quarantine."""
    staged = layout.staged_declarations_file(settings, day)
    write_parquet(
        pl.read_parquet(staged).with_columns(
            pl.lit(SOURCE).alias("_source_file"), pl.lit(SHA256).alias("_sha256")
        ),
        staged,
    )
    quarantined = pl.DataFrame(
        {
            "_source_file": ["decl_2026-03-10.csv"] * 3,
            "_line": [4, 4, 9],
            "field": ["hs_code", "currency", "hs_code"],
            "value": ["99x", "XXX", None],
            "reason": ["not a 6-digit HS code", "unknown currency", "missing"],
            "rule": ["regex", "in_set", "not_null"],
        }
    )
    write_parquet(
        quarantined,
        layout.partition(layout.quarantine_declarations(settings), day) / "decl.parquet",
    )
