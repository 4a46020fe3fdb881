"""The inspector sample home as a nightly run leaves it: staging rows with their loading
bookkeeping (`_source_file`, `_sha256`) and a quarantine partition of three rejections."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import polars as pl
from fastapi.testclient import TestClient

from inspector.app import create_app
from inspector.config import InspectorConfig
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


@contextmanager
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The app over `settings`' home in a test client: plain http, cheap hashing, redirects
    left to the test."""
    config = InspectorConfig.from_settings(
        settings, cookie_secure=False, cheap_password_hashing=True
    )
    with TestClient(create_app(settings, config), follow_redirects=False) as client:
        yield client
