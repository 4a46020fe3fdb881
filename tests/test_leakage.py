"""No leakage: the features of day D read nothing filed on D or later, nor inspected on D or later.

Features for D are built, then everything a leak could read is changed: the other rows filed on
D, new rows on D and later days, inspections on D and later (findings on the very same parties).
Rebuilt from scratch, the features of D's untouched rows must be identical. A control shows the
same changes do move the features of the next day, so the test can fail.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from pipelines.featurize import featurize_day
from pipelines.io import write_parquet
from pipelines.layout import features_file, staged_declarations_file, staged_outcomes_file
from pipelines.settings import Settings, load_settings
from tests.factories.feature_world import declarations, outcomes, refs, world

FIRST = date(2026, 4, 1)
DAYS = 6
D = FIRST + timedelta(days=3)
WATCHED = 3


def staged(tmp_path: Path) -> Settings:
    settings = load_settings(environ={}, home=tmp_path)
    filed, checked = world(FIRST, DAYS, per_day=8)
    for day, frame in filed.items():
        write_parquet(frame, staged_declarations_file(settings, day))
    for day, frame in checked.items():
        write_parquet(frame, staged_outcomes_file(settings, day))
    return settings


def featurize_until(settings: Settings, last: date) -> None:
    for offset in range((last - FIRST).days + 1):
        featurize_day(settings, FIRST + timedelta(days=offset), refs=refs())


def lookalikes(day: date, like: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """Rows that share every party, hub and HS code with `like`, with odd values, filed on `day`."""
    changes: list[dict[str, Any]] = []
    for n, watched in enumerate(like.iter_rows(named=True)):
        for k in range(5):
            changes.append(
                {
                    key: watched[key]
                    for key in (
                        "shipper_id",
                        "consignee_id",
                        "declarant_id",
                        "port_of_loading",
                        "port_of_discharge",
                        "transshipment_ports",
                        "hs_code",
                    )
                }
                | {"declaration_id": f"{prefix}{n}-{k}", "declared_value": 0.5 + k}
            )
    return declarations(day, *changes)


def findings_on(day: date, ids: list[str]) -> pl.DataFrame:
    return outcomes(
        day,
        *[{"declaration_id": i, "result": "finding", "finding_category": "cbrn"} for i in ids],
    )


def tamper(settings: Settings) -> pl.DataFrame:
    """Change all that a leak could read; return the untouched rows of D."""
    original = pl.read_parquet(staged_declarations_file(settings, D))
    watched, others = original.head(WATCHED), original.slice(WATCHED)
    altered = others.with_columns(
        pl.col("shipper_id").str.replace(r"^", "X"),
        pl.col("declared_value") * 1000,
        pl.lit("930200").alias("hs_code"),
    )
    write_parquet(
        pl.concat([watched, altered, lookalikes(D, watched, "SAMEDAY")]),
        staged_declarations_file(settings, D),
    )
    for later in (D + timedelta(days=1), D + timedelta(days=2)):
        path = staged_declarations_file(settings, later)
        write_parquet(
            pl.concat([pl.read_parquet(path), lookalikes(later, watched, f"LATER{later.day}")]),
            path,
        )
    watched_ids = watched["declaration_id"].to_list()
    same_day_ids = [f"SAMEDAY{n}-{k}" for n in range(WATCHED) for k in range(5)]
    write_parquet(findings_on(D, watched_ids + same_day_ids), staged_outcomes_file(settings, D))
    write_parquet(
        findings_on(D + timedelta(days=1), watched_ids),
        staged_outcomes_file(settings, D + timedelta(1)),
    )
    return watched


def watched_features(settings: Settings, day: date, watched: pl.DataFrame) -> pl.DataFrame:
    return (
        pl.read_parquet(features_file(settings, day))
        .join(watched.select("declaration_id", "item_no"), on=["declaration_id", "item_no"])
        .sort("declaration_id", "item_no")
    )


def test_features_of_d_ignore_everything_filed_or_inspected_on_d_or_later(
    tmp_path: Path,
) -> None:
    settings = staged(tmp_path)
    featurize_until(settings, D + timedelta(days=1))
    watched = pl.read_parquet(staged_declarations_file(settings, D)).head(WATCHED)
    before = watched_features(settings, D, watched)
    assert before.height == WATCHED
    assert before["shipper_n_items"].sum() > 0  # history is really used

    tamper(settings)
    # Rerun from the stored snapshot, then again with history rebuilt from scratch.
    featurize_day(settings, D, refs=refs())
    assert_frame_equal(watched_features(settings, D, watched), before)
    shutil.rmtree(settings.zone("history"))
    featurize_until(settings, D)
    assert_frame_equal(watched_features(settings, D, watched), before)


def test_control_the_same_changes_move_the_next_day(tmp_path: Path) -> None:
    settings = staged(tmp_path)
    featurize_until(settings, D + timedelta(days=1))
    next_day = D + timedelta(days=1)
    next_rows = pl.read_parquet(staged_declarations_file(settings, next_day)).head(WATCHED)
    before = watched_features(settings, next_day, next_rows)

    tamper(settings)
    featurize_until(settings, next_day)
    after = watched_features(settings, next_day, next_rows)
    changed = [c for c in before.columns if not before[c].equals(after[c])]
    assert "shipper_n_items" in changed
    assert "shipper_n_findings" in changed
