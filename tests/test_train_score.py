from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.registry import FEATURES as REGISTRY
from features.registry import registry_hash
from models.training import TrainingParams
from pipelines.io import write_parquet
from pipelines.layout import scores_file
from pipelines.score import score_day
from pipelines.settings import Settings, load_settings
from pipelines.train import train_models
from tests.test_models_world import FEATURES, PHRASES, START, World, make_world

CREATED = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
DAYS = 16
LAST_TRAIN_DAY = START + timedelta(days=DAYS - 2)
SCORE_DAY = START + timedelta(days=DAYS - 1)


@cache
def _world() -> World:
    return make_world(days=DAYS, rows_per_day=2500, seed=5)


def _registry_frame(world: World) -> pl.DataFrame:
    """The world's rows with every registry feature: the planted signals sit in real feature
    names, the other columns are noise of the declared type."""
    rng = np.random.default_rng(3)
    n = world.features.height
    planted = {
        "consignee_age_days": world.features["consignee_age_days"],
        "hs_is_cbrn": world.features["strategic_hs"].cast(pl.Boolean),
        "value_per_kg_times_below_hs6_median": 1 / world.features["value_per_kg_ratio"],
        "route_detour_ratio": 1 + 3 * world.features["route_risk"],
    }
    columns = []
    for feature in REGISTRY:
        if feature.name in planted:
            values = planted[feature.name]
        elif feature.dtype == "bool":
            values = pl.Series(rng.random(n) < 0.2)
        elif feature.name.endswith(("_rate", "_share", "_overlap")):
            values = pl.Series(rng.random(n))
        else:
            values = pl.Series(np.floor(rng.exponential(10, n)))
        columns.append(values.alias(feature.name))
    return world.features.select(
        "declaration_id", "item_no", "port_of_discharge", "filed_at"
    ).with_columns(columns)


def _write_home(home: Path, features: pl.DataFrame, outcomes: pl.DataFrame) -> Settings:
    settings = load_settings(environ={}, home=home)
    parts = _by_day(features, "filed_at").partition_by("_day", as_dict=True, include_key=False)
    for (day,), part in parts.items():
        write_parquet(part, settings.zone("features") / f"date={day}" / "features.parquet")
    parts = _by_day(outcomes, "inspected_at").partition_by("_day", as_dict=True, include_key=False)
    for (day,), part in parts.items():
        target = settings.zone("staging") / "outcomes" / f"date={day}" / "outcomes.parquet"
        write_parquet(part, target)
    return settings


def _by_day(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).dt.date().alias("_day"))


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    world = _world()
    return _write_home(tmp_path, world.features, world.outcomes)


def _train(settings: Settings) -> Path:
    return train_models(settings, LAST_TRAIN_DAY, CREATED, feature_names=FEATURES, phrases=PHRASES)


def test_train_writes_a_version_folder_and_makes_it_champion(home: Settings) -> None:
    folder = _train(home)
    assert sorted(p.name for p in folder.iterdir()) == [
        "calibration.json",
        "cbrn.txt",
        "metadata.json",
        "salw.txt",
    ]
    champion = json.loads((home.zone("models") / "champion.json").read_text())
    assert champion == {"version": folder.name}
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["version"] == folder.name
    assert metadata["created_at"] == CREATED.isoformat()
    assert metadata["feature_names"] == list(FEATURES)
    assert metadata["training_dates"]["last"] <= LAST_TRAIN_DAY.isoformat()
    assert metadata["rows"]["traffic"] == 2500 * (DAYS - 1)
    assert metadata["rows"]["outcomes"] > metadata["rows"]["labelled"] * 0.9
    assert metadata["rows"]["outcomes_without_features"] == 0
    assert metadata["metrics"]["cbrn"]["valid_positives"] > 0
    assert folder.name.startswith("20260201T030000Z-")


def test_training_the_same_inputs_twice_gives_the_same_version(home: Settings) -> None:
    first = _train(home)
    cbrn = (first / "cbrn.txt").read_bytes()
    second = _train(home)
    assert second == first
    assert (second / "cbrn.txt").read_bytes() == cbrn


def test_score_day_writes_scores_with_reasons_and_version(home: Settings) -> None:
    version = _train(home).name
    path = score_day(home, SCORE_DAY)
    assert path == scores_file(home, SCORE_DAY)
    scores = pl.read_parquet(path)
    assert scores.columns == [
        "declaration_id",
        "item_no",
        "port_of_discharge",
        "filed_at",
        "cbrn_score",
        "salw_score",
        "risk_score",
        "reasons",
        "model_version",
    ]
    assert scores.height == 2500
    assert scores["model_version"].unique().to_list() == [version]
    assert scores["risk_score"].is_between(0, 1).all()
    top = scores.sort("risk_score", descending=True)["reasons"].head(10)
    assert (top.str.len_chars() > 0).all()
    first_bytes = path.read_bytes()
    assert score_day(home, SCORE_DAY).read_bytes() == first_bytes


def test_score_day_without_a_model_or_features_says_what_to_run(home: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="run `cargo-risk train` first"):
        score_day(home, SCORE_DAY)
    _train(home)
    with pytest.raises(FileNotFoundError, match="run featurize first"):
        score_day(home, SCORE_DAY + timedelta(days=30))


def test_train_names_the_missing_feature_column(home: Settings) -> None:
    with pytest.raises(ValueError, match=r"features lack column\(s\) not_a_feature"):
        train_models(
            home, LAST_TRAIN_DAY, CREATED, feature_names=[*FEATURES, "not_a_feature"], phrases={}
        )


def test_registry_features_train_score_and_read_as_registry_phrases(tmp_path: Path) -> None:
    world = _world()
    settings = _write_home(tmp_path, _registry_frame(world), world.outcomes)
    folder = train_models(settings, LAST_TRAIN_DAY, CREATED, TrainingParams(num_boost_round=200))
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["registry_hash"] == registry_hash()
    assert len(metadata["feature_names"]) == len(REGISTRY)
    scores = pl.read_parquet(score_day(settings, SCORE_DAY))
    top = scores.sort("cbrn_score", descending=True).head(10)["reasons"]
    # The registry's own phrases, with the row's value in them, name the planted signals.
    new_consignee = top.str.contains(r"consignee first seen \d+ days ago")
    cbrn_goods = top.str.contains("HS code of CBRN-related goods")
    # With ~60 noise columns and a few dozen findings some noise still scores; most must not.
    assert (new_consignee | cbrn_goods).mean() >= 0.7  # type: ignore[operator]
    assert new_consignee.any()
    assert cbrn_goods.any()
