from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from features.registry import FEATURES as REGISTRY
from features.registry import registry_hash
from models.training import TrainingParams
from pipelines.io import write_parquet
from pipelines.layout import FEATURES_FILE, features_table, partition_files, scores_file
from pipelines.score import score_day
from pipelines.settings import Settings
from pipelines.train import train_models
from tests.factories.model_world import (
    CREATED,
    FEATURES,
    HOME_DAYS,
    LAST_TRAIN_DAY,
    SCORE_DAY,
    home_world,
    registry_frame,
    train_home,
    write_home,
)


def test_train_writes_a_version_folder_and_makes_it_champion(model_home: Settings) -> None:
    folder = train_home(model_home)
    assert sorted(p.name for p in folder.iterdir()) == [
        "calibration.json",
        "card.html",  # every training writes its model card, from its evaluation
        "cbrn.txt",
        "disparity.html",  # and the model version's disparity report (decision 0026)
        "disparity.json",
        "evaluation.json",
        "gate-cbrn.txt",  # the trees the gate judges, grown without its window (decision 0044)
        "gate-salw.txt",
        "metadata.json",
        "salw.txt",
    ]
    champion = json.loads((model_home.zone("models") / "champion.json").read_text())
    assert champion == {"version": folder.name}
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["version"] == folder.name
    assert metadata["created_at"] == CREATED.isoformat()
    assert metadata["feature_names"] == list(FEATURES)
    assert metadata["training_dates"]["last"] <= LAST_TRAIN_DAY.isoformat()
    assert metadata["rows"]["traffic"] == 2500 * (HOME_DAYS - 1)
    assert metadata["rows"]["outcomes"] > metadata["rows"]["labelled"] * 0.9
    assert metadata["rows"]["outcomes_without_features"] == 0
    assert metadata["metrics"]["cbrn"]["valid_positives"] > 0
    assert folder.name.startswith("20260201T030000Z-")


def test_training_the_same_inputs_twice_gives_the_same_version(model_home: Settings) -> None:
    first = train_home(model_home)
    cbrn = (first / "cbrn.txt").read_bytes()
    second = train_home(model_home)
    assert second == first
    assert (second / "cbrn.txt").read_bytes() == cbrn


def test_score_day_writes_scores_with_reasons_and_version(model_home: Settings) -> None:
    version = train_home(model_home).name
    path = score_day(model_home, SCORE_DAY)
    assert path == scores_file(model_home, SCORE_DAY)
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
    assert score_day(model_home, SCORE_DAY).read_bytes() == first_bytes


def test_score_day_without_a_model_or_features_says_what_to_run(model_home: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="run `cargo-risk train` first"):
        score_day(model_home, SCORE_DAY)
    train_home(model_home)
    with pytest.raises(FileNotFoundError, match="run featurize first"):
        score_day(model_home, SCORE_DAY + timedelta(days=30))


def test_train_names_the_missing_feature_column(model_home: Settings) -> None:
    with pytest.raises(ValueError, match=r"features lack column\(s\) not_a_feature"):
        train_models(
            model_home,
            LAST_TRAIN_DAY,
            CREATED,
            feature_names=[*FEATURES, "not_a_feature"],
            phrases={},
        )


def test_train_names_older_feature_partitions_and_the_command_that_rebuilds_them(
    model_home: Settings,
) -> None:
    """Partitions featurized before a release added a feature lack its column: training says
    which dates and how to rebuild them, instead of Polars' error on the first such file."""
    days = partition_files(features_table(model_home), FEATURES_FILE)
    older = [(day, path) for day, path in days if day <= LAST_TRAIN_DAY][:3]
    for _, path in older:
        write_parquet(pl.read_parquet(path).drop(FEATURES[0]), path)
    first, last = older[0][0], older[-1][0]
    expected = (
        rf"features of 3 date\(s\) from {first} to {last} lack {FEATURES[0]} .*"
        rf"cargo-risk featurize run --from {first} --to {last}"
    )
    with pytest.raises(ValueError, match=expected):
        train_models(model_home, LAST_TRAIN_DAY, CREATED, feature_names=FEATURES, phrases={})


def test_train_names_the_command_when_every_partition_is_older(model_home: Settings) -> None:
    """Just after an upgrade every partition lacks the new feature: still the command, not a
    bare "lack column" as for a name the registry does not define."""
    days = partition_files(features_table(model_home), FEATURES_FILE)
    older = [(day, path) for day, path in days if day <= LAST_TRAIN_DAY]
    for _, path in older:
        write_parquet(pl.read_parquet(path).drop(FEATURES[0]), path)
    with pytest.raises(
        ValueError, match=rf"featurize run --from {older[0][0]} --to {older[-1][0]}"
    ):
        train_models(model_home, LAST_TRAIN_DAY, CREATED, feature_names=FEATURES, phrases={})


def test_registry_features_train_score_and_read_as_registry_phrases(tmp_path: Path) -> None:
    world = home_world()
    settings = write_home(tmp_path, registry_frame(world), world.outcomes)
    # Coarser leaves than the defaults: on this 16-day home with ~60 noise columns, 15 leaves of
    # 5 rows (decision 0019) let noise columns into half of the top 10's reasons; an open point.
    params = TrainingParams(num_boost_round=200, num_leaves=7, min_data_in_leaf=20)
    folder = train_models(settings, LAST_TRAIN_DAY, CREATED, params)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["registry_hash"] == registry_hash()
    assert len(metadata["feature_names"]) == len(REGISTRY)
    scores = pl.read_parquet(score_day(settings, SCORE_DAY))
    top = scores.sort("cbrn_score", descending=True).head(10)["reasons"]
    # The registry's own phrases, with the row's value in them, name the planted signals.
    new_consignee = top.str.contains(
        r"consignee on record for \d+ days before this filing|new consignee, never seen before"
    )
    cbrn_goods = top.str.contains("HS code of CBRN-related goods")
    # With ~60 noise columns and a few dozen findings some noise still scores; most must not.
    assert (new_consignee | cbrn_goods).mean() >= 0.7  # type: ignore[operator]
    assert new_consignee.any()
    assert cbrn_goods.any()


def test_a_model_of_another_feature_registry_stops_with_the_upgrade_steps(
    model_home: Settings,
) -> None:
    from pipelines.cli import _operator_error
    from pipelines.score import RegistryMismatchError, load_models

    folder = train_home(model_home)
    # The home's model knows only the small world's features; stamped with a registry, it reads
    # as a model of another release, whose features the current registry's outnumber.
    metadata_file = folder / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["registry_hash"] = "0" * 64
    metadata_file.write_text(json.dumps(metadata))
    newest = next(f.name for f in REGISTRY if f.name not in metadata["feature_names"])
    with pytest.raises(RegistryMismatchError) as raised:
        load_models(model_home)
    message = str(raised.value)
    assert f"new feature(s) {newest}, " in message
    assert " more" in message
    assert "`cargo-risk featurize run --from FIRST --to LAST`, then `cargo-risk train`" in message
    assert "\n" not in message
    assert _operator_error(raised.value)
