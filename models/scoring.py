"""Scoring: calibrated threat probabilities and reasons for each row of a features frame.

Grain: one output row per input row (one declaration item), in input order, with
`cbrn_score`, `salw_score`, `risk_score` and `reasons` added.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from models.explain import top_reasons
from models.registry import ThreatModels

SCORE_COLUMNS = ("cbrn_score", "salw_score", "risk_score", "reasons")


def feature_matrix(
    features: pl.DataFrame, feature_names: tuple[str, ...]
) -> npt.NDArray[np.float64]:
    """The model inputs as float64, nulls as NaN (LightGBM's missing value).

    Going through numpy keeps String/Categorical columns away from LightGBM, which aborts the
    whole process on Arrow dictionary types instead of raising.
    """
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise ValueError(f"features frame lacks model feature columns: {', '.join(missing)}")
    non_numeric = [
        name
        for name in feature_names
        if not (features.schema[name].is_numeric() or features.schema[name] == pl.Boolean)
    ]
    if non_numeric:
        raise ValueError(f"model feature columns must be numeric: {', '.join(non_numeric)}")
    if features.height == 0:
        return np.empty((0, len(feature_names)), dtype=np.float64)
    matrix = features.select(pl.col(name).cast(pl.Float64) for name in feature_names).to_numpy()
    return np.ascontiguousarray(matrix, dtype=np.float64)


def raw_scores(
    models: ThreatModels, matrix: npt.NDArray[np.float64]
) -> dict[str, npt.NDArray[np.float64]]:
    """Uncalibrated log-odds per category."""
    return {
        name: np.asarray(m.booster.predict(matrix, raw_score=True), dtype=np.float64)
        for name, m in models.categories.items()
    }


def score(models: ThreatModels, features: pl.DataFrame, top_n: int = 3) -> pl.DataFrame:
    """Add calibrated per-category scores, `risk_score` and `reasons` to `features`.

    risk_score = 1 - prod(1 - category score): the chance of any finding, treating categories
    as independent. Reasons come from the category with the highest calibrated score.
    """
    matrix = feature_matrix(features, models.feature_names)
    if matrix.shape[0] == 0:
        return features.with_columns(
            *(pl.lit(None, dtype=pl.Float64).alias(f"{name}_score") for name in models.categories),
            pl.lit(None, dtype=pl.Float64).alias("risk_score"),
            pl.lit(None, dtype=pl.String).alias("reasons"),
        )
    calibrated = {
        name: models.categories[name].calibrator.apply(raw)
        for name, raw in raw_scores(models, matrix).items()
    }
    names = list(calibrated)
    stacked = np.vstack([calibrated[name] for name in names]) if names else np.empty((0, 0))
    risk = 1.0 - np.prod(1.0 - stacked, axis=0) if names else np.zeros(features.height)
    reasons = _reasons(models, matrix, stacked, names, top_n)
    return features.with_columns(
        *(pl.Series(f"{name}_score", calibrated[name], dtype=pl.Float64) for name in names),
        pl.Series("risk_score", risk, dtype=pl.Float64),
        pl.Series("reasons", reasons, dtype=pl.String),
    )


def _reasons(
    models: ThreatModels,
    matrix: npt.NDArray[np.float64],
    stacked: npt.NDArray[np.float64],
    names: list[str],
    top_n: int,
) -> list[str]:
    reasons = [""] * matrix.shape[0]
    if matrix.shape[0] == 0 or not names:
        return reasons
    # Ties go to the first category listed, so the same row always gets the same reasons.
    driver = np.argmax(stacked, axis=0)
    for index, name in enumerate(names):
        rows = np.flatnonzero(driver == index)
        if rows.size == 0:
            continue
        contrib = np.asarray(
            models.categories[name].booster.predict(matrix[rows], pred_contrib=True),
            dtype=np.float64,
        )
        texts = top_reasons(contrib, matrix[rows], models.feature_names, models.phrases, top_n)
        for row, text in zip(rows, texts, strict=True):
            reasons[row] = text
    return reasons
