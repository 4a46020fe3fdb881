"""Drift: PSI of inputs and scores between the training traffic and one night."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.drift import bin_edges, compare, frame_shares, profile, psi, shares
from pipelines.lifecycle import DRIFT_SAMPLE_ROWS, _drift_sample, drift_report
from pipelines.report import render_run_report
from pipelines.score import score_day
from pipelines.settings import Settings
from pipelines.train import train_models
from tests.factories.model_world import CREATED, FEATURES, LAST_TRAIN_DAY, PHRASES, SCORE_DAY


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(4)
    train = pl.DataFrame({"x": rng.normal(size=20_000), "flag": rng.random(20_000) < 0.2})
    reference = profile(train, ["x", "flag"])
    same = pl.DataFrame({"x": rng.normal(size=5_000), "flag": rng.random(5_000) < 0.2})
    shifted = pl.DataFrame({"x": rng.normal(1.0, 1.0, 5_000), "flag": rng.random(5_000) < 0.6})
    assert max(compare(reference, same).values()) < 0.02
    moved = compare(reference, shifted)
    assert moved["x"] > 0.25
    assert moved["flag"] > 0.25


def test_missing_values_count_as_their_own_bin() -> None:
    reference = profile(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), ["x"])
    assert compare(reference, pl.DataFrame({"x": [None, None, 1.0, 2.0]}))["x"] > 0.25
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1.0])


def test_frame_shares_equal_the_column_by_column_shares() -> None:
    rng = np.random.default_rng(9)
    x = rng.lognormal(size=5_000).round(1)
    x[rng.random(5_000) < 0.1] = np.nan
    x[:3] = [np.inf, -np.inf, 0.0]
    frame = pl.DataFrame({"x": x, "n": rng.integers(0, 4, 5_000), "b": rng.random(5_000) < 0.3})
    frame = frame.with_columns(
        pl.when(pl.col("n") == 3).then(None).otherwise(pl.col("n")).alias("n")
    )
    edges = {c: bin_edges(frame[c].cast(pl.Float64).to_numpy()) for c in frame.columns}
    together = frame_shares(frame, {**edges, "absent": [1.0]})
    assert set(together) == {"x", "n", "b"}
    for column in frame.columns:
        alone = shares(frame[column].cast(pl.Float64).to_numpy(), edges[column])
        assert together[column] == pytest.approx(alone, abs=1e-12)
        assert sum(together[column]) == pytest.approx(1.0)


def test_a_large_night_is_sampled_the_same_way_on_every_rerun() -> None:
    big = pl.DataFrame({"i": np.arange(DRIFT_SAMPLE_ROWS + 5_000)})
    first, again = _drift_sample(big, 7), _drift_sample(big, 7)
    assert first.height == DRIFT_SAMPLE_ROWS
    assert first.equals(again)
    assert not first.equals(_drift_sample(big, 8))
    small = big.head(10)
    assert _drift_sample(small, 7).equals(small)


@pytest.mark.slow  # trains, then runs a night: about 16 s on this machine
def test_a_night_is_compared_with_its_models_training_in_the_report(model_home: Settings) -> None:
    train_models(model_home, LAST_TRAIN_DAY, CREATED, feature_names=FEATURES, phrases=PHRASES)
    score_day(model_home, SCORE_DAY)
    drift = drift_report(model_home, SCORE_DAY)
    assert {"cbrn_score", "salw_score", "risk_score", "noise_a"} <= set(drift["psi"])
    # The world draws every day from one distribution: nothing shifts.
    assert drift["warnings"] == []
    assert drift["psi"]["noise_a"] < 0.1
    text = render_run_report(SCORE_DAY, {"drift": drift})
    assert "## Drift" in text
    assert "risk_score: PSI" in text


def test_the_drift_sample_read_from_a_file_is_the_whole_frames_sample(tmp_path: Path) -> None:
    """Drift reads only the sampled rows of the night's files: the same rows as before."""
    from pipelines.lifecycle import _drift_sample_of

    rows = DRIFT_SAMPLE_ROWS + 50_000
    frame = pl.DataFrame({"x": pl.int_range(rows, eager=True)}).with_columns(
        y=(pl.col("x") * 0.7).sin(), z=pl.format("v{}", pl.col("x") % 11)
    )
    path = tmp_path / "night.parquet"
    frame.write_parquet(path, row_group_size=60_000)
    for seed in (0, 7):
        expected = _drift_sample(frame, seed)
        assert expected.height == DRIFT_SAMPLE_ROWS
        assert _drift_sample_of(pl.scan_parquet(path), rows, seed).equals(expected)
    small = frame.head(10)
    assert _drift_sample_of(small.lazy(), 10, 0).equals(small)
