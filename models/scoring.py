"""Scoring: calibrated threat probabilities and reasons for each row of a features frame.

Grain: one output row per input row (one declaration item), in input order, with a `<name>_score`
per threat category (contracts/threats.py), `risk_score` and `reasons` added.

Reasons cost about ten times the scores (LightGBM's `pred_contrib` walks every tree per feature),
and only the rows a port can inspect are read. By default they are computed for the riskiest rows
of each port of discharge (`ExplainTop`); every other row gets a null `reasons`, which the
selection completes with its own words (watch list, rule, random draw, the scores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from contracts import threats
from models.explain import top_reasons
from models.registry import ThreatModels

SCORE_COLUMNS = (*threats.SCORE_COLUMNS, "risk_score", "reasons")
GROUP_COLUMN = "port_of_discharge"


@dataclass(frozen=True)
class ExplainTop:
    """Which rows get reasons: per port, the `rows` riskiest, or the top `share` if more.

    Rows tied with the last one taken are taken too, so a tie-break downstream never ranks an
    unexplained row above an explained one with the same score. The default, 1,000 rows a
    port, is far above a port's daily inspection capacity (tens of items); the score stage
    sets it from the capacities (`pipelines.score.explain_top`). No share by default: what an
    inspector reads is bounded by capacity, not by the day's volume, and reasons cost about ten
    times the scores (a 2 % share explained 20,000 rows at 1 M a day).
    """

    rows: int = 1000
    share: float = 0.0

    def __post_init__(self) -> None:
        if self.rows < 0 or not 0 <= self.share <= 1:
            raise ValueError("ExplainTop needs rows >= 0 and a share between 0 and 1")

    def mask(
        self, risk: npt.NDArray[np.float64], groups: pl.Series | None
    ) -> npt.NDArray[np.bool_]:
        """True for the rows to explain, given each row's risk score and port."""
        frame = pl.DataFrame(
            {
                "risk": risk,
                "group": groups if groups is not None else pl.repeat("", len(risk), eager=True),
            }
        )
        group = pl.col("group")
        wanted = pl.max_horizontal(
            pl.lit(self.rows, dtype=pl.Int64),
            (pl.len().over(group) * self.share).ceil().cast(pl.Int64),
        )
        # NaN scores never come from a booster; ranked last they are only explained if taken.
        rank = pl.col("risk").fill_nan(-math.inf).rank("min", descending=True).over(group)
        return frame.select(rank <= wanted).to_series().to_numpy().astype(bool)


def feature_matrix(
    features: pl.DataFrame, feature_names: tuple[str, ...]
) -> npt.NDArray[np.float64]:
    """The model inputs as float64, column-major, nulls as NaN (LightGBM's missing value).

    Going through numpy keeps String/Categorical columns away from LightGBM, which aborts the
    whole process on Arrow dictionary types instead of raising.
    """
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise ValueError(f"features frame lacks model feature columns: {', '.join(missing)}")
    # `DataFrame.schema` builds a new Schema on every access: read it once, not twice a name.
    schema = features.schema
    non_numeric = [
        name
        for name in feature_names
        if not (schema[name].is_numeric() or schema[name] == pl.Boolean)
    ]
    if non_numeric:
        raise ValueError(f"model feature columns must be numeric: {', '.join(non_numeric)}")
    if features.height == 0:
        return np.empty((0, len(feature_names)), dtype=np.float64, order="F")
    matrix = features.select(pl.col(name).cast(pl.Float64) for name in feature_names).to_numpy()
    # Column-major as polars gives it: compiled trees read it so and LightGBM takes either, so
    # no transposed copy (0.5 GB at a million rows) is made.
    return np.asfortranarray(matrix, dtype=np.float64)


def raw_scores(
    models: ThreatModels, matrix: npt.NDArray[np.float64]
) -> dict[str, npt.NDArray[np.float64]]:
    """Uncalibrated log-odds per category, from the compiled trees where a category has them."""
    return {
        name: (
            m.compiled.raw_score(matrix)
            if m.compiled is not None
            else np.asarray(m.booster.predict(matrix, raw_score=True), dtype=np.float64)
        )
        for name, m in models.categories.items()
    }


def score(
    models: ThreatModels,
    features: pl.DataFrame,
    top_n: int = 3,
    explain: ExplainTop | None = ExplainTop(),
) -> pl.DataFrame:
    """Add calibrated per-category scores, `risk_score` and `reasons` to `features`.

    risk_score = 1 - prod(1 - category score): the chance of any finding, treating categories
    as independent. Reasons come from the category with the highest calibrated score, for the
    rows `explain` picks per port (every row when it is None); the others get null reasons.
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
    if explain is None:
        chosen = np.ones(matrix.shape[0], dtype=bool)
    else:
        groups = features.get_column(GROUP_COLUMN) if GROUP_COLUMN in features.columns else None
        chosen = explain.mask(risk, groups)
    reasons = _reasons(models, matrix, stacked, names, top_n, chosen=chosen)
    return features.with_columns(
        *(pl.Series(f"{name}_score", calibrated[name], dtype=pl.Float64) for name in names),
        pl.Series("risk_score", risk, dtype=pl.Float64),
        pl.Series("reasons", reasons, dtype=pl.String),
    )


def reasons_of(
    models: ThreatModels, features: pl.DataFrame, scores: pl.DataFrame, top_n: int = 3
) -> list[str | None]:
    """The reasons `score` gives each row of `features` when it explains it, from the row's
    features and its calibrated category scores (`scores`, the `<category>_score` columns
    `score` added, same rows): for a caller that scores in chunks and picks the rows to
    explain once all are scored (pipelines.ports)."""
    matrix = feature_matrix(features, models.feature_names)
    names = list(models.categories)
    stacked = (
        np.vstack([scores.get_column(f"{name}_score").to_numpy() for name in names])
        if names
        else np.empty((0, 0))
    )
    chosen = np.ones(matrix.shape[0], dtype=bool)
    return _reasons(models, matrix, stacked, names, top_n, chosen=chosen)


def _reasons(
    models: ThreatModels,
    matrix: npt.NDArray[np.float64],
    stacked: npt.NDArray[np.float64],
    names: list[str],
    top_n: int,
    *,
    chosen: npt.NDArray[np.bool_],
) -> list[str | None]:
    reasons: list[str | None] = [None] * matrix.shape[0]
    if matrix.shape[0] == 0 or not names:
        return [""] * matrix.shape[0]
    # Ties go to the first category listed, so the same row always gets the same reasons.
    driver = np.argmax(stacked, axis=0)
    for index, name in enumerate(names):
        rows = np.flatnonzero((driver == index) & chosen)
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
