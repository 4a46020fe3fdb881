"""The registry: names, types and phrases hold, the built frame matches it, LightGBM takes it,
and docs/features.md shows the current registry."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl

from features.build import build_features
from features.feature import POLARS_DTYPES
from features.history import empty_state
from features.registry import (
    FEATURES,
    KEY_COLUMNS,
    describe,
    markdown_table,
    model_feature_names,
    registry_hash,
)
from tests.factories.feature_world import refs, world

DOCS = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def test_built_frame_matches_the_registry() -> None:
    filed, _ = world(date(2026, 1, 1), 1, per_day=12)
    frame = build_features(filed[date(2026, 1, 1)], empty_state(date(2026, 1, 1)), refs())
    assert frame.columns == [*KEY_COLUMNS, *model_feature_names()]
    for feature in FEATURES:
        assert frame.schema[feature.name] == POLARS_DTYPES[feature.dtype], feature.name


def test_every_phrase_reads_a_value() -> None:
    for feature in FEATURES:
        words = describe(feature.name, True if feature.dtype == "bool" else 3)
        assert words and "{" not in words, feature.name
    assert describe("consignee_age_days", 3) == "consignee on record for 3 days before this filing"
    assert describe("value_per_kg_times_below_hs6_median", 12.4) == (
        "the HS-6 median value per kg is 12 times this item's"
    )


def test_small_values_read_right() -> None:
    # Each of these read "0" before: "value per kg 0x below", "files about 0 items a day".
    assert describe("value_per_kg_times_below_hs6_median", 0.4) == (
        "the HS-6 median value per kg is 0.4 times this item's"
    )
    assert describe("shipper_items_per_active_day", 0.25) == "shipper files about 0.2 items a day"
    assert describe("description_hs_overlap", 0.003) == (
        "0.3% of the description's words match its HS code's text"
    )
    assert describe("description_hs_overlap", 0.0) == (
        "0% of the description's words match its HS code's text"
    )
    assert describe("consignee_age_days", 0) == "consignee on record for 0 days before this filing"
    assert describe("shipper_items_per_active_day", 0.00001) == (
        "shipper files about under 0.0001 items a day"
    )
    assert describe("consignee_is_new", False) == ""
    assert describe("consignee_age_days", None) == ""


def test_registry_hash_is_stable_and_follows_the_inputs() -> None:
    assert registry_hash() == registry_hash()
    assert len(registry_hash()) == 64
    changed = (replace(FEATURES[0], dtype="float"), *FEATURES[1:])
    renamed = (replace(FEATURES[0], name="other"), *FEATURES[1:])
    reworded = (replace(FEATURES[0], meaning="said otherwise"), *FEATURES[1:])
    assert registry_hash(changed) != registry_hash()
    assert registry_hash(renamed) != registry_hash()
    assert registry_hash(reworded) == registry_hash()


def test_lightgbm_trains_and_explains_on_the_features() -> None:
    first = date(2026, 1, 1)
    filed, _ = world(first, 4, per_day=60)
    day = first + timedelta(days=3)
    frame = build_features(filed[day], empty_state(day), refs()).select(model_feature_names())
    labels = np.arange(frame.height) % 2
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 2, "num_threads": 1},
        lgb.Dataset(frame, label=labels),
        num_boost_round=3,
    )
    contributions = booster.predict(frame, pred_contrib=True)
    assert contributions.shape == (frame.height, len(FEATURES) + 1)


def test_docs_show_the_current_registry() -> None:
    assert markdown_table() in DOCS.read_text(encoding="utf-8"), (
        "docs/features.md is stale: paste features.registry.markdown_table() into it"
    )


def test_model_features_are_numeric_or_boolean() -> None:
    allowed = {pl.Float64(), pl.Int32(), pl.Boolean()}
    assert {POLARS_DTYPES[f.dtype] for f in FEATURES} <= allowed
