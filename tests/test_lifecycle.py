"""Model lifecycle: metrics with intervals, the champion/challenger gate, promotion, card."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from models.evaluation import (
    bootstrap_precision_recall,
    calibration_ratio,
    paired_precision_difference,
    reliability,
    version_metrics,
)
from models.registry import gate, load_version, read_decisions
from models.training import WEIGHT, TrainingParams, label_column
from pipelines.cli import app
from pipelines.io import write_parquet
from pipelines.lifecycle import (
    current_champion,
    evaluate_version,
    evaluation_set,
    latest_featurized_day,
    list_versions,
    probabilities,
    promote,
    rollback,
    train_challenger,
    write_card,
)
from pipelines.settings import Settings
from pipelines.train import train_models
from tests.factories.model_world import (
    CREATED,
    FEATURES,
    LAST_TRAIN_DAY,
    PHRASES,
    home_world,
    registry_frame,
    write_home,
)

LATER = datetime(2026, 2, 2, 3, 0, tzinfo=UTC)


def _metrics(precision: float, high: float, ratio: float) -> dict[str, Any]:
    row = {"rate": 0.05, "precision": precision, "precision_low": 0.0, "precision_high": high}
    return {"at_rates": [row], "calibration_ratio": ratio}


def test_gate_passes_an_equal_model_and_refuses_a_worse_or_miscalibrated_one() -> None:
    champion = {"cbrn": _metrics(0.30, 0.40, 1.0)}
    assert gate({"cbrn": _metrics(0.28, 0.35, 1.1)}, champion, 0.05).promote
    worse = gate({"cbrn": _metrics(0.10, 0.20, 1.0)}, champion, 0.05)
    assert not worse.promote
    assert any("worse" in r and "not worse" not in r for r in worse.reasons)
    miscalibrated = gate({"cbrn": _metrics(0.50, 0.60, 3.0)}, champion, 0.05)
    assert not miscalibrated.promote
    assert any("calibration fails" in r for r in miscalibrated.reasons)
    assert gate({"cbrn": _metrics(0.1, 0.2, 1.0)}, None, 0.05).promote


def test_paired_gate_judges_the_difference_on_the_same_rows() -> None:
    champion = {"cbrn": _metrics(0.30, 0.40, 1.0)}
    mine = {"cbrn": _metrics(0.29, 0.45, 1.0)}
    worse = {"cbrn": {"difference": -0.05, "low": -0.08, "high": -0.01}}
    level = {"cbrn": {"difference": -0.01, "low": -0.04, "high": 0.02}}
    # Unpaired, the wide intervals overlap; paired, a consistent loss shows.
    assert gate(mine, champion, 0.05).promote
    assert not gate(mine, champion, 0.05, paired=worse).promote
    assert gate(mine, champion, 0.05, paired=level).promote


def test_paired_difference_is_zero_for_one_model_and_positive_for_a_better_one() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(5_000) < 0.05).astype(float)
    good = y + rng.random(y.size)  # every finding ranks above every clean row
    noise = rng.random(y.size)
    same = paired_precision_difference(noise, noise, y, 0.05, resamples=100)
    assert same["difference"] == same["low"] == same["high"] == 0
    better = paired_precision_difference(good, noise, y, 0.05, resamples=100)
    assert better["low"] > 0.5


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_rows() -> None:
    rng = np.random.default_rng(1)

    def width(n: int) -> float:
        scores = rng.random(n)
        labels = (rng.random(n) < scores * 0.2).astype(float)
        m = bootstrap_precision_recall(scores, labels, 0.05, resamples=200, seed=2)
        assert m["precision_low"] <= m["precision"] <= m["precision_high"]
        return m["precision_high"] - m["precision_low"]

    assert width(20_000) < width(1_000)


def test_reliability_bins_and_metrics_of_a_calibrated_score() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(50_000) * 0.2
    y = (rng.random(p.size) < p).astype(float)
    bins = reliability(p, y, bins=10)
    assert bins["rows"].sum() == p.size
    assert np.allclose(bins["predicted"], bins["observed"], atol=0.01)
    metrics = version_metrics(p, y, resamples=50)
    assert 0.9 < metrics["calibration_ratio"] < 1.1  # type: ignore[operator]
    assert len(metrics["at_rates"]) == 4  # type: ignore[arg-type]


def test_weights_make_the_calibration_ratio_speak_for_the_traffic() -> None:
    # Two policy rows (found 1 of 2) and one random row standing for 10 clean rows.
    p, y, w = [0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 10.0]
    assert calibration_ratio(p, y) == pytest.approx(1 / 3 / (1 / 3))
    assert calibration_ratio(p, y, w) == pytest.approx((1 / 12) / (1 / 12))
    assert calibration_ratio([0.5, 0.5, 0.5], y, w) == pytest.approx(6.0)


def _train(settings: Settings, names: tuple[str, ...], created: datetime, champion: bool) -> str:
    params = TrainingParams(num_boost_round=150)
    phrases = {n: p for n, p in PHRASES.items() if n in names}
    folder = train_models(
        settings,
        LAST_TRAIN_DAY,
        created,
        params,
        feature_names=names,
        phrases=phrases,
        promote=champion,
    )
    return folder.name


def _stage_origins(settings: Settings) -> None:
    """Staged declarations with a country of origin: odd rows from CN, even rows from DE."""
    rows = home_world().features.select("declaration_id", "item_no", "filed_at").with_row_index()
    rows = rows.with_columns(
        pl.when(pl.col("index") % 2 == 1)
        .then(pl.lit("CN"))
        .otherwise(pl.lit("DE"))
        .alias("country_of_origin"),
        pl.col("filed_at").dt.date().alias("_day"),
    ).drop("index")
    for (day,), part in rows.partition_by("_day", as_dict=True, include_key=False).items():
        target = settings.zone("staging") / "declarations" / f"date={day}"
        write_parquet(part, target / "declarations.parquet")


@pytest.mark.slow  # trains two models, card and all: about 20 s on this machine
def test_a_blind_challenger_is_refused_and_logged_with_a_card(model_home: Settings) -> None:
    champion = _train(model_home, FEATURES, CREATED, champion=True)
    blind = _train(model_home, ("noise_a", "noise_b"), LATER, champion=False)
    assert current_champion(model_home) == champion
    _stage_origins(model_home)
    decision = promote(model_home, blind, LATER)
    assert decision["action"] == "refuse", decision["reasons"]
    assert any("difference" in reason for reason in decision["reasons"])
    assert current_champion(model_home) == champion
    log = read_decisions(model_home.zone("models"))
    assert [r["action"] for r in log] == ["promote", "refuse"]
    metadata = json.loads((model_home.zone("models") / blind / "metadata.json").read_text())
    assert len(metadata["training_fingerprint"]) == 64
    card = write_card(model_home, blind).read_text()
    assert "Is it better at the inspection budget?" in card
    assert card.count("data:image/png;base64,") == 8  # four plots per category
    assert "gate refuses" in card
    evaluation = json.loads((model_home.zone("models") / blind / "evaluation.json").read_text())
    regions = evaluation["versions"][blind]["categories"]["cbrn"]["per_origin_region"]
    assert set(regions) == {"Asia", "Europe"}
    assert sum(r["rows"] for r in regions.values()) == evaluation["rows"]
    assert "Per origin region" in card
    listed = {v["version"]: v for v in list_versions(model_home)}
    assert listed[champion]["champion"]
    assert listed[blind]["precision_at_budget"]["cbrn"] is not None


@pytest.mark.slow  # trains two models, card and all: about 20 s on this machine
def test_cli_promote_forced_then_rollback_restores_the_champion(model_home: Settings) -> None:
    champion = _train(model_home, FEATURES, CREATED, champion=True)
    blind = _train(model_home, ("noise_a", "noise_b"), LATER, champion=False)
    root = ["--home", str(model_home.home)]
    runner = CliRunner()
    refused = runner.invoke(app, [*root, "models", "promote", blind])
    assert refused.exit_code == 2, refused.output
    assert "NOT promoted" in refused.output
    forced = runner.invoke(app, [*root, "models", "promote", blind, "--force"])
    assert forced.exit_code == 0, forced.output
    assert current_champion(model_home) == blind
    listed = runner.invoke(app, [*root, "models", "list"])
    assert f"* {blind}" in listed.output
    shown = runner.invoke(app, [*root, "models", "show", blind])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.output)
    assert details["version"] == blind
    assert "drift_profile" not in details
    assert set(details["evaluation"]["versions"]) == {blind, champion}
    back = runner.invoke(app, [*root, "models", "rollback"])
    assert back.exit_code == 0, back.output
    assert current_champion(model_home) == champion
    actions = [r["action"] for r in read_decisions(model_home.zone("models"))]
    assert actions == ["promote", "refuse", "promote", "rollback"]
    with pytest.raises(ValueError, match="no earlier champion"):
        rollback(model_home, LATER)


@pytest.mark.slow  # trains two models, card and all: about 20 s on this machine
def test_the_dags_challenger_is_champion_only_when_there_is_none(tmp_path: Path) -> None:
    world = home_world()
    model_home = write_home(tmp_path, registry_frame(world), world.outcomes)
    first = train_challenger(model_home, LAST_TRAIN_DAY, CREATED)
    assert current_champion(model_home) == first
    second = train_challenger(model_home, LAST_TRAIN_DAY - timedelta(days=1), LATER)
    assert second != first
    assert current_champion(model_home) == first
    assert latest_featurized_day(model_home) == LAST_TRAIN_DAY + timedelta(days=1)


def test_the_gate_judges_trees_that_never_saw_the_gate_window(model_home: Settings) -> None:
    version = _train(model_home, FEATURES, CREATED, champion=True)
    models = load_version(model_home.zone("models") / version)
    assert models.gate_trees is not None
    evaluation = evaluate_version(model_home, version, None, LATER)
    frame = evaluation_set(model_home, version)
    cap = models.metadata["params"]["max_weight"]
    weights = np.minimum(frame[WEIGHT].cast(pl.Float64).to_numpy(), cap)
    judged = probabilities(models.for_gate(), frame)
    scoring = probabilities(models, frame)
    for category, p in judged.items():
        y = frame[label_column(category)].cast(pl.Float64).to_numpy()
        reported = evaluation["versions"][version]["categories"][category]["calibration_ratio"]
        assert reported == pytest.approx(calibration_ratio(p, y, weights))
        assert reported != pytest.approx(calibration_ratio(scoring[category], y, weights))
