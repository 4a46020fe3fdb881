from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.evaluation import auc, evaluate
from models.registry import load_version, version_files, version_id
from models.scoring import score
from models.training import (
    TrainingParams,
    label_inspected,
    time_split,
    train_threat_models,
)
from tests.factories.model_world import (
    CREATED,
    FEATURES,
    PHRASES,
    make_world,
    trained_models,
    training_world,
)


@cache
def _test_world() -> pl.DataFrame:
    later = make_world(days=5, rows_per_day=3000, seed=12)
    scored = score(trained_models()[0], later.features)
    return scored.join(later.truth, on=["declaration_id", "item_no", "port_of_discharge"])


def test_labels_cover_only_inspected_rows_and_weight_the_random_sample() -> None:
    world = training_world()
    labelled = label_inspected(world.features, world.outcomes)
    assert labelled.height == world.outcomes.height
    random_rows = labelled.filter(pl.col("sample") == "random")
    policy_rows = labelled.filter(pl.col("sample") == "policy")
    assert policy_rows["weight"].unique().to_list() == [1.0]
    # About 1% of the rows the policy left are drawn, so each stands for about 100.
    assert 50 < float(random_rows["weight"].median()) < 200  # type: ignore[arg-type]
    # Weighted, the labelled rows stand for the whole traffic.
    assert labelled["weight"].sum() == pytest.approx(world.features.height, rel=0.05)
    unweighted = label_inspected(world.features, world.outcomes, weighting="none")
    assert unweighted["weight"].unique().to_list() == [1.0]


def test_an_outcome_without_item_no_labels_every_item_of_the_declaration() -> None:
    features = pl.DataFrame(
        {
            "declaration_id": ["A", "A", "B"],
            "item_no": [1, 2, 1],
            "filed_at": [datetime(2026, 1, 1, tzinfo=UTC)] * 3,
            "port_of_discharge": ["NLRTM"] * 3,
        }
    )
    outcomes = pl.DataFrame(
        {
            "declaration_id": ["A", "B"],
            "item_no": pl.Series([None, 1], dtype=pl.Int64),
            "selection_reason": ["risk", "random"],
            "result": ["finding", "no_finding"],
            "finding_category": ["salw", None],
        }
    )
    labelled = label_inspected(features, outcomes).sort("declaration_id", "item_no")
    assert labelled["label_salw"].to_list() == [1, 1, 0]
    assert labelled["label_cbrn"].to_list() == [0, 0, 0]
    assert labelled["sample"].to_list() == ["policy", "policy", "random"]
    # B is the only row the policy left on its day and port, and it was drawn: weight 1.
    assert labelled["weight"].to_list() == [1.0, 1.0, 1.0]


def test_validation_is_the_later_slice() -> None:
    labelled = label_inspected(training_world().features, training_world().outcomes)
    train, valid = time_split(labelled, 0.25)
    assert train["filed_at"].max() < valid["filed_at"].min()  # type: ignore[operator]
    assert train.height + valid.height == labelled.height


def test_model_ranks_planted_threats_above_the_rest() -> None:
    scored = _test_world()
    for category in ("cbrn", "salw"):
        value = auc(scored[f"{category}_score"].to_numpy(), scored[f"truth_{category}"].to_numpy())
        assert value > 0.75, category


def test_model_beats_random_and_rules_at_one_and_five_percent() -> None:
    scored = _test_world()
    result = evaluate(
        scored,
        {"cbrn": "truth_cbrn", "salw": "truth_salw"},
        {
            "model": {"cbrn": "cbrn_score", "salw": "salw_score"},
            "rules": {"cbrn": "rules_score", "salw": "rules_score"},
        },
        rates=(0.01, 0.05),
    ).filter(pl.col("scope") == "per_port")
    recall = {(r["category"], r["method"], r["rate"]): r["recall"] for r in result.to_dicts()}
    for category in ("cbrn", "salw"):
        for rate in (0.01, 0.05):
            model = recall[(category, "model", rate)]
            assert model > 1.3 * recall[(category, "rules", rate)], (category, rate)
            assert model > 3 * recall[(category, "random", rate)], (category, rate)


def test_scores_are_probabilities_and_risk_combines_them() -> None:
    scored = _test_world()
    for column in ("cbrn_score", "salw_score", "risk_score"):
        values = scored[column].to_numpy()
        assert ((values >= 0) & (values <= 1)).all(), column
    cbrn, salw = scored["cbrn_score"].to_numpy(), scored["salw_score"].to_numpy()
    np.testing.assert_allclose(scored["risk_score"].to_numpy(), 1 - (1 - cbrn) * (1 - salw))


def test_calibration_matches_the_weighted_validation_rate() -> None:
    _, metadata = trained_models()
    for category in ("cbrn", "salw"):
        metrics = metadata["metrics"][category]
        assert metrics["valid_mean_calibrated"] == pytest.approx(
            metrics["valid_observed_rate"], rel=0.2
        )


def test_mean_score_is_near_the_planted_rate() -> None:
    # Calibrated on inspected rows re-weighted to the traffic, the mean lands near the threat
    # rate; the band is wide because the random sample holds only a handful of findings.
    scored = _test_world()
    for category in ("cbrn", "salw"):
        ratio = scored[f"{category}_score"].mean() / scored[f"truth_{category}"].mean()  # type: ignore[operator]
        assert 0.33 < ratio < 3.0, (category, ratio)


def test_reasons_name_the_driving_feature() -> None:
    scored = _test_world()
    # The strongest CBRN signal planted is a strategic HS code on a new consignee.
    top = scored.sort("cbrn_score", descending=True).head(20)
    assert top["reasons"].str.contains("strategic goods list").mean() > 0.8  # type: ignore[operator]
    # The pooled trees (decision 0019) also lift SALW-like rows a little in the CBRN score,
    # so fewer of the top 20 carry the second CBRN signal than with a CBRN-only booster.
    assert top["reasons"].str.contains("consignee first seen").mean() > 0.5  # type: ignore[operator]
    salw = scored.filter(pl.col("salw_score") > pl.col("cbrn_score")).sort(
        "salw_score", descending=True
    )
    first = salw["reasons"].head(20)
    assert (first.str.contains("route risk") | first.str.contains("value per kg")).all()
    riskiest = scored.sort("risk_score", descending=True).head(50)
    assert not riskiest["reasons"].str.split("; ").list.first().str.contains("noise_").any()
    # A flag phrase is only a reason when the flag is set.
    unset = scored.filter(pl.col("strategic_hs") == 0)
    assert not unset["reasons"].str.contains("strategic goods list").any()


def test_saved_version_scores_identically(tmp_path: Path) -> None:
    models, metadata = trained_models()
    version = version_id(CREATED, {"x": "y"})
    models = replace(models, version=version)
    folder = tmp_path / version
    folder.mkdir()
    for name, text in version_files(models, metadata).items():
        (folder / name).write_text(text, encoding="utf-8")
    loaded = load_version(folder)
    assert loaded.version == version
    assert loaded.feature_names == FEATURES
    # The trees grown without the gate window are saved beside the scoring ones.
    assert models.gate_trees is not None and loaded.gate_trees is not None
    for name, model in models.gate_trees.items():
        assert (folder / f"gate-{name}.txt").is_file()
        text = loaded.gate_trees[name].booster.model_to_string()
        assert text == model.booster.model_to_string()
        assert text != loaded.categories[name].booster.model_to_string()
    features = training_world().features.head(3000)
    before = score(models, features)
    after = score(loaded, features)
    for column in ("cbrn_score", "salw_score", "risk_score", "reasons"):
        assert before[column].to_list() == after[column].to_list(), column


def test_training_twice_gives_identical_model_text() -> None:
    world = training_world()
    labelled = label_inspected(world.features, world.outcomes)
    first, _ = train_threat_models(labelled, FEATURES, PHRASES)
    second, _ = train_threat_models(labelled, FEATURES, PHRASES)
    assert version_files(first, {}) == version_files(second, {})
    other_seed, _ = train_threat_models(labelled, FEATURES, PHRASES, TrainingParams(seed=1))
    assert version_files(other_seed, {}) != version_files(first, {})


def test_training_refuses_a_category_without_findings() -> None:
    world = training_world()
    outcomes = world.outcomes.with_columns(
        pl.when(pl.col("finding_category") == "salw")
        .then(pl.lit("other"))
        .otherwise(pl.col("finding_category"))
        .alias("finding_category")
    )
    # One booster per category needs findings of each; the pooled structures do not
    # (tests/test_training_windows.py).
    with pytest.raises(ValueError, match="salw: cannot train without findings"):
        train_threat_models(
            label_inspected(world.features, outcomes),
            FEATURES,
            PHRASES,
            TrainingParams(structure="per_category"),
        )


def test_scoring_refuses_text_feature_columns() -> None:
    models, _ = trained_models()
    features = training_world().features.head(5).with_columns(pl.col("route_risk").cast(pl.String))
    with pytest.raises(ValueError, match="must be numeric: route_risk"):
        score(models, features)


def test_validation_slice_holds_findings_of_every_category_when_they_are_scarce() -> None:
    days = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 11)]
    labelled = pl.DataFrame(
        {
            "filed_at": days,
            # The only SALW findings are on days 2 and 5: a split by days alone would leave
            # the last quarter without any.
            "label_salw": [0, 1, 0, 0, 1, 0, 0, 0, 0, 0],
            "label_cbrn": [1, 0, 1, 0, 0, 0, 1, 0, 1, 0],
        }
    )
    train, valid = time_split(labelled, 0.25)
    assert train["label_salw"].sum() == 1
    assert valid["label_salw"].sum() == 1
    assert valid["label_cbrn"].sum() >= 1
    assert train["filed_at"].max() < valid["filed_at"].min()  # type: ignore[operator]


def test_the_earlier_slice_keeps_a_finding_of_a_category_with_only_two() -> None:
    days = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 11)]
    labelled = pl.DataFrame(
        {
            "filed_at": days,
            "label_cbrn": [0, 0, 0, 0, 0, 0, 1, 0, 1, 0],
            "label_salw": [1, 0, 1, 0, 1, 0, 0, 1, 1, 0],
        }
    )
    train, valid = time_split(labelled, 0.25)
    assert (train["label_cbrn"].sum(), valid["label_cbrn"].sum()) == (1, 1)
    assert (train["label_salw"].sum(), valid["label_salw"].sum()) == (3, 2)


def test_a_damaged_model_file_is_named(tmp_path: Path) -> None:
    models, metadata = trained_models()
    folder = tmp_path / "v1"
    folder.mkdir()
    for name, text in version_files(replace(models, version="v1"), metadata).items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "salw.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ValueError, match=r"salw\.txt: not a LightGBM text model"):
        load_version(folder)


def test_few_findings_train_with_a_warning_in_the_metadata() -> None:
    _, metadata = trained_models()
    assert metadata["warnings"] == []
    world = training_world()
    labelled = label_inspected(world.features, world.outcomes)
    _, scarce = train_threat_models(
        labelled, FEATURES, PHRASES, TrainingParams(min_findings=100_000)
    )
    assert [w.split(":")[0] for w in scarce["warnings"]] == ["cbrn", "salw"]
    assert "findings" in scarce["warnings"][0]
