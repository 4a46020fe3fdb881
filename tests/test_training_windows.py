"""Training windows, label weights in trees and calibration, and the pooled model structure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pytest

from models.registry import gate, model_texts
from models.scoring import feature_matrix
from models.training import (
    WEIGHT,
    TrainingParams,
    label_column,
    label_inspected,
    time_windows,
    train_threat_models,
)
from pipelines.lifecycle import gate_window
from tests.factories.model_world import FEATURES, PHRASES, World, training_world

FAST = TrainingParams(num_boost_round=80, min_data_in_leaf=20)


def _world() -> World:
    return training_world()


@cache
def _labelled() -> pl.DataFrame:
    world = _world()
    return label_inspected(world.features, world.outcomes)


def _days(frame: pl.DataFrame) -> set[date]:
    return set(frame.get_column("filed_at").dt.date().to_list())


def _findings_by_day(cbrn: list[int], salw: list[int]) -> pl.DataFrame:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "filed_at": [start + timedelta(days=d) for d in range(len(cbrn))],
            "label_cbrn": cbrn,
            "label_salw": salw,
        }
    )


def test_the_gate_window_follows_and_never_overlaps_the_calibration_window() -> None:
    windows = time_windows(_labelled(), FAST)
    assert not windows.gate_shared
    assert windows.note is None
    train, calibration, gate = (
        _days(w) for w in (windows.train, windows.calibration, windows.gate)
    )
    assert not train & calibration
    assert not calibration & gate
    assert not train & gate
    assert max(train) < min(calibration)
    assert max(calibration) < min(gate)
    for frame in (windows.train, windows.calibration, windows.gate):
        for category in ("cbrn", "salw"):
            assert frame[label_column(category)].sum() > 0
    assert windows.train.height + windows.calibration.height + windows.gate.height == (
        _labelled().height
    )


def test_the_version_names_its_windows_and_the_gate_reads_the_unseen_one() -> None:
    _, metadata = train_threat_models(_labelled(), FEATURES, PHRASES, FAST)
    windows = metadata["windows"]
    assert windows["calibration"]["last"] < windows["gate"]["first"]
    assert windows["train"]["last"] < windows["calibration"]["first"]
    assert metadata["validation_from"] == windows["calibration"]["first"]
    assert metadata["gate_shared_with_calibration"] is False
    assert min(metadata["gate_findings"].values()) > 0
    last = _labelled().get_column("filed_at").dt.date().max()
    since, until, note = gate_window({**metadata, "trained_until": str(last)})
    assert note is None
    assert since.isoformat() == windows["gate"]["first"]
    assert since.isoformat() > windows["calibration"]["last"]
    assert until == last


def test_scarce_findings_share_the_gate_with_calibration_and_say_why() -> None:
    # Two SALW findings: enough for train and calibration, none left for a gate window.
    labelled = _findings_by_day([1, 0, 1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0, 1, 0, 0])
    windows = time_windows(labelled, TrainingParams())
    assert windows.gate_shared
    assert windows.gate is windows.calibration
    assert windows.note is not None
    assert "salw" in windows.note
    assert "salw 2" in windows.note
    assert windows.train["label_salw"].sum() == 1
    assert windows.calibration["label_salw"].sum() == 1


def test_a_zero_gate_share_gates_on_the_calibration_window() -> None:
    windows = time_windows(_labelled(), replace(FAST, gate_share=0.0))
    assert windows.gate_shared
    assert windows.note is not None and "gate_share is 0" in windows.note


def test_versions_without_windows_are_gated_as_before_with_a_note() -> None:
    old: dict[str, Any] = {"trained_until": "2026-01-30", "validation_from": "2026-01-24"}
    since, until, note = gate_window(old)
    assert (since, until) == (date(2026, 1, 24), date(2026, 1, 30))
    assert note is not None and "predates" in note
    shared = {**old, "windows": {"gate": {"first": "2026-01-24"}}}
    shared["gate_shared_with_calibration"] = True
    assert "too few findings" in (gate_window(shared)[2] or "")


def test_unweighted_trees_ignore_the_weights_and_calibration_follows_them() -> None:
    labelled = _labelled()
    unweighted_trees = replace(FAST, weight_trees=False)
    # Every row weighing 1: the random rows no longer stand for the uninspected traffic.
    heavier = labelled.with_columns(pl.lit(1.0).alias(WEIGHT))
    assert labelled[WEIGHT].max() > 1.0
    first, weighted_meta = train_threat_models(labelled, FEATURES, PHRASES, unweighted_trees)
    second, unweighted_meta = train_threat_models(heavier, FEATURES, PHRASES, unweighted_trees)
    for category in ("cbrn", "salw"):
        assert (
            first.categories[category].booster.model_to_string()
            == second.categories[category].booster.model_to_string()
        )
        weighted = weighted_meta["metrics"][category]
        unweighted = unweighted_meta["metrics"][category]
        # Weighted, the random rows stand for the traffic the policy left: a lower rate,
        # which the calibrated scores follow; unweighted, they follow the inspected rows.
        assert weighted["valid_observed_rate"] < unweighted["valid_observed_rate"]
        for metrics in (weighted, unweighted):
            ratio = metrics["valid_mean_calibrated"] / metrics["valid_observed_rate"]
            assert 0.8 < ratio < 1.25, (category, ratio)
    weighted, _ = train_threat_models(labelled, FEATURES, PHRASES, replace(FAST, weight_trees=True))
    assert model_texts(weighted)["cbrn.txt"] != model_texts(first)["cbrn.txt"]


def test_the_pooled_model_shares_one_booster_and_splits_by_category_share() -> None:
    params = replace(FAST, structure="pooled")
    models, metadata = train_threat_models(_labelled(), FEATURES, PHRASES, params)
    cbrn, salw = models.categories["cbrn"], models.categories["salw"]
    assert cbrn.booster.model_to_string() == salw.booster.model_to_string()
    assert cbrn.calibrator.slope == salw.calibrator.slope
    shares = {c: metadata["metrics"][c]["category_share"] for c in ("cbrn", "salw")}
    assert shares["cbrn"] + shares["salw"] == pytest.approx(1.0)
    raw = np.array([-3.0, 0.0])
    ratio = cbrn.calibrator.apply(raw) / salw.calibrator.apply(raw)
    # Small probabilities keep the ratio of the shares; larger ones bend towards 1.
    assert ratio[0] == pytest.approx(shares["cbrn"] / shares["salw"], rel=0.05)


def test_the_pooled_model_trains_when_one_category_has_no_findings() -> None:
    world = _world()
    outcomes = world.outcomes.with_columns(
        pl.when(pl.col("finding_category") == "salw")
        .then(pl.lit("other"))
        .otherwise(pl.col("finding_category"))
        .alias("finding_category")
    )
    labelled = label_inspected(world.features, outcomes)
    with pytest.raises(ValueError, match="salw: cannot train without findings"):
        train_threat_models(labelled, FEATURES, PHRASES, replace(FAST, structure="per_category"))
    params = replace(FAST, structure="pooled")
    models, metadata = train_threat_models(labelled, FEATURES, PHRASES, params)
    assert metadata["gate_shared_with_calibration"] is False  # cut on CBRN alone
    assert any("no salw finding" in w for w in metadata["warnings"])
    assert metadata["metrics"]["salw"]["category_share"] < 0.1
    assert set(models.categories) == {"cbrn", "salw"}


def _gate_metrics(positives: int, precision: float, ratio: float | None) -> dict[str, Any]:
    row = {"rate": 0.05, "precision": precision, "precision_low": 0.0, "precision_high": 1.0}
    return {"positives": positives, "at_rates": [row], "calibration_ratio": ratio}


def test_the_gate_skips_a_category_without_findings_and_refuses_when_none_has_any() -> None:
    champion = {"cbrn": _gate_metrics(3, 0.1, 1.0), "salw": _gate_metrics(0, 0.0, None)}
    one = gate(
        {"cbrn": _gate_metrics(3, 0.1, 1.0), "salw": _gate_metrics(0, 0.0, None)}, champion, 0.05
    )
    assert one.promote
    assert "salw: no finding in the gate window, not judged" in one.reasons
    empty = {c: _gate_metrics(0, 0.0, None) for c in ("cbrn", "salw")}
    none = gate(empty, champion, 0.05)
    assert not none.promote
    assert "nothing to judge" in none.reasons[-1]


def test_refit_regrows_as_many_trees_on_both_windows_and_keeps_the_calibration() -> None:
    heads = replace(FAST, structure="pooled_heads", refit=False)
    stopped, _ = train_threat_models(_labelled(), FEATURES, PHRASES, heads)
    refitted, metadata = train_threat_models(
        _labelled(), FEATURES, PHRASES, replace(heads, refit=True)
    )
    for category in ("cbrn", "salw"):
        before, after = stopped.categories[category], refitted.categories[category]
        assert after.calibrator == before.calibrator
        assert after.booster.current_iteration() == before.booster.current_iteration()
        assert after.booster.model_to_string() != before.booster.model_to_string()
        assert metadata["metrics"][category]["trees"] == after.booster.current_iteration()


def test_a_difference_below_zero_whose_interval_ends_at_zero_is_worse() -> None:
    champion = {"cbrn": _gate_metrics(3, 0.03, 1.0)}
    challenger = {"cbrn": _gate_metrics(3, 0.0, 1.0)}
    tie = {"cbrn": {"difference": 0.0, "low": 0.0, "high": 0.0}}
    lost = {"cbrn": {"difference": -0.03, "low": -0.09, "high": 0.0}}
    assert gate(challenger, champion, 0.05, paired=tie).promote
    refused = gate(challenger, champion, 0.05, paired=lost)
    assert not refused.promote
    assert refused.reasons[-1].endswith(": worse")


def _log_loss(booster: Any, rows: pl.DataFrame, category: str) -> float:
    p = np.clip(booster.predict(feature_matrix(rows, FEATURES)), 1e-9, 1 - 1e-9)
    y = rows[label_column(category)].cast(pl.Float64).to_numpy()
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_the_scoring_trees_learn_the_gate_window_and_the_gate_judges_trees_that_did_not() -> None:
    labelled = _labelled()
    before, _ = train_threat_models(
        labelled, FEATURES, PHRASES, replace(FAST, final_trees_on_gate=False)
    )
    models, metadata = train_threat_models(labelled, FEATURES, PHRASES, FAST)
    assert metadata["final_trees_on_gate"] is True
    assert before.gate_trees is None
    judged = models.for_gate()
    assert judged.gate_trees is None
    gate_rows = time_windows(labelled, FAST).gate
    for category in ("cbrn", "salw"):
        # The gate judges exactly the trees shipped before this option existed.
        assert model_texts(judged)[f"{category}.txt"] == model_texts(before)[f"{category}.txt"]
        final, unseen = models.categories[category], judged.categories[category]
        assert final.calibrator == unseen.calibrator
        assert final.booster.current_iteration() == unseen.booster.current_iteration()
        # The scoring trees learnt the gate window's findings; the judged ones never saw them.
        assert _log_loss(final.booster, gate_rows, category) < _log_loss(
            unseen.booster, gate_rows, category
        )


def test_without_a_gate_window_of_its_own_there_is_one_set_of_trees() -> None:
    models, metadata = train_threat_models(
        _labelled(), FEATURES, PHRASES, replace(FAST, gate_share=0.0)
    )
    assert metadata["gate_shared_with_calibration"] is True
    assert metadata["final_trees_on_gate"] is False
    assert models.gate_trees is None
    assert models.for_gate() is models
