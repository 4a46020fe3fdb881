"""Platt calibration: a model's raw log-odds to a probability of a finding if inspected.

Grain: one calibrator per threat category and model version (two numbers, `slope` and
`intercept`). Platt rather than isotonic because a validation slice holds a few dozen positives
at a base rate near 1 in 5,000: two parameters can be fitted from that, a step function cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_MIN_SLOPE = 1e-3
"""A slope at or below zero would reverse the ranking; clamp so calibration stays monotone."""


@dataclass(frozen=True)
class PlattCalibrator:
    """p = sigmoid(slope * raw + intercept), monotone increasing in the raw score."""

    slope: float
    intercept: float

    def apply(self, raw: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities in [0, 1] for raw log-odds scores."""
        z = self.slope * np.asarray(raw, dtype=np.float64) + self.intercept
        return _sigmoid(z)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the version folder's calibration.json."""
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PlattCalibrator:
        """Inverse of `to_dict`; refuses other methods by name."""
        if values.get("method") != "platt":
            raise ValueError(f"unknown calibration method {values.get('method')!r}")
        return cls(slope=float(values["slope"]), intercept=float(values["intercept"]))


def _sigmoid(z: FloatArray) -> FloatArray:
    # Split by sign so large |z| neither overflows exp nor rounds p to exactly 0 or 1 early.
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def fit_platt(
    raw: npt.ArrayLike,
    labels: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    max_iter: int = 100,
) -> PlattCalibrator:
    """Fit Platt scaling by Newton's method on weighted log loss.

    Targets are smoothed as in Platt (1999), (W+ + 1)/(W+ + 2) and 1/(W- + 2), so a slice with
    few positives does not push probabilities to 0 or 1. Weights (inverse sampling rates) make
    the fit describe the whole population, not only the inspected rows.
    """
    x = np.asarray(raw, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (x.shape == y.shape == w.shape) or x.ndim != 1:
        raise ValueError("raw, labels and weights must be 1-D arrays of one length")
    if x.size == 0:
        raise ValueError("cannot calibrate on an empty validation slice")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    positive_weight = float(w[y == 1].sum())
    negative_weight = float(w[y == 0].sum())
    if positive_weight == 0:
        raise ValueError("cannot calibrate: the validation slice has no positive labels")
    target = np.where(
        y == 1, (positive_weight + 1) / (positive_weight + 2), 1 / (negative_weight + 2)
    )
    start = (1.0, _logit(positive_weight, negative_weight))
    slope, intercept = _newton(x, target, w, start, max_iter=max_iter)
    if slope < _MIN_SLOPE:
        # The model does not rank on this slice: keep the order, fit only the base rate.
        slope = _MIN_SLOPE
        _, intercept = _newton(
            x, target, w, (slope, intercept), max_iter=max_iter, fixed_slope=True
        )
    return PlattCalibrator(slope=slope, intercept=intercept)


def _logit(positive_weight: float, negative_weight: float) -> float:
    return float(np.log((positive_weight + 1) / (negative_weight + 1)))


def _newton(
    x: FloatArray,
    target: FloatArray,
    w: FloatArray,
    start: tuple[float, float],
    *,
    max_iter: int,
    fixed_slope: bool = False,
) -> tuple[float, float]:
    def loss(a: float, b: float) -> float:
        p = np.clip(_sigmoid(a * x + b), 1e-15, 1 - 1e-15)
        return float(-(w * (target * np.log(p) + (1 - target) * np.log(1 - p))).sum())

    slope, intercept = start
    current = loss(slope, intercept)
    for _ in range(max_iter):
        p = _sigmoid(slope * x + intercept)
        residual = w * (p - target)
        curvature = w * p * (1 - p) + 1e-12
        if fixed_slope:
            step = np.array([0.0, residual.sum() / curvature.sum()])
        else:
            gradient = np.array([(residual * x).sum(), residual.sum()])
            hessian = np.array(
                [
                    [(curvature * x * x).sum(), (curvature * x).sum()],
                    [(curvature * x).sum(), curvature.sum()],
                ]
            )
            step = np.linalg.solve(hessian + 1e-9 * np.eye(2), gradient)
        # Halve the step until the loss does not rise: plain Newton can overshoot on flat data.
        scale = 1.0
        while scale > 1e-8:
            a, b = slope - scale * step[0], intercept - scale * step[1]
            candidate = loss(a, b)
            if candidate <= current:
                break
            scale /= 2
        else:
            break
        converged = abs(current - candidate) < 1e-10 * max(1.0, abs(current))
        slope, intercept, current = float(a), float(b), candidate
        if converged:
            break
    return slope, intercept
