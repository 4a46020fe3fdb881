from __future__ import annotations

import numpy as np
import pytest

from models.calibration import PlattCalibrator, fit_platt


def _known_probabilities(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw scores whose true probability is sigmoid(0.7 * raw - 4)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 2, n)
    truth = 1 / (1 + np.exp(-(0.7 * raw - 4)))
    labels = (rng.random(n) < truth).astype(np.float64)
    return raw, labels, truth


def test_platt_recovers_known_probabilities() -> None:
    raw, labels, _ = _known_probabilities(200_000)
    calibrator = fit_platt(raw, labels)
    assert calibrator.slope == pytest.approx(0.7, abs=0.05)
    assert calibrator.intercept == pytest.approx(-4.0, abs=0.15)


def test_calibrated_scores_match_observed_rates_on_held_out_rows() -> None:
    raw, labels, _ = _known_probabilities(100_000, seed=2)
    calibrator = fit_platt(raw, labels)
    held_raw, held_labels, _ = _known_probabilities(100_000, seed=3)
    predicted = calibrator.apply(held_raw)
    # Per decile of the score, the mean prediction is the observed rate.
    edges = np.quantile(predicted, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, 9)
    for b in range(5, 10):
        in_bin = bins == b
        assert predicted[in_bin].mean() == pytest.approx(held_labels[in_bin].mean(), rel=0.25)


def test_calibration_is_monotone_and_within_zero_and_one() -> None:
    calibrator = PlattCalibrator(slope=1.3, intercept=-6.0)
    raw = np.linspace(-800, 800, 5001)
    p = calibrator.apply(raw)
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p) >= 0).all()
    assert not np.isnan(p).any()


def test_weights_make_the_fit_describe_the_population() -> None:
    # Half the negatives were kept, each standing for two: the weighted fit sees the full rate.
    raw, labels, _ = _known_probabilities(200_000, seed=4)
    keep = (labels == 1) | (np.arange(labels.size) % 2 == 0)
    weights = np.where(labels[keep] == 1, 1.0, 2.0)
    weighted = fit_platt(raw[keep], labels[keep], weights)
    unweighted = fit_platt(raw[keep], labels[keep])
    full_rate = labels.mean()
    assert weighted.apply(raw).mean() == pytest.approx(full_rate, rel=0.05)
    assert unweighted.apply(raw).mean() > 1.5 * full_rate


def test_a_slice_that_ranks_backwards_keeps_the_order_and_fits_the_rate() -> None:
    rng = np.random.default_rng(5)
    raw = rng.normal(size=20_000)
    labels = ((rng.random(20_000) < 0.05) & (raw < -1)).astype(np.float64)
    calibrator = fit_platt(raw, labels)  # findings only at low raw scores
    assert calibrator.slope > 0
    assert calibrator.apply(raw).mean() == pytest.approx(labels.mean(), rel=0.1)


def test_refuses_a_slice_without_findings() -> None:
    with pytest.raises(ValueError, match="no positive labels"):
        fit_platt(np.arange(5.0), np.zeros(5))


def test_round_trip_through_plain_values() -> None:
    calibrator = PlattCalibrator(slope=0.8, intercept=-7.25)
    assert PlattCalibrator.from_dict(calibrator.to_dict()) == calibrator
    with pytest.raises(ValueError, match="unknown calibration method 'isotonic'"):
        PlattCalibrator.from_dict({"method": "isotonic"})
