"""Evaluation: what inspecting the top k% by a score would find, beside a random baseline.

Grain of `evaluate`'s result: one row per (category, method, scope, inspection rate), where
scope is `overall` (one ranking across all ports), `per_port` (each port inspects its own top
k%, summed) or a single port code. Ties in a score are counted as broken at random, in
expectation, so a coarse score (a rules-only count of hits) is neither flattered nor punished by
row order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

INSPECTION_RATES: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)
RANDOM_METHOD = "random"

FloatArray = npt.NDArray[np.float64]


def inspected_count(rows: int, rate: float) -> int:
    """Rows inspected at `rate`: rounded up, so a small port still inspects one."""
    return min(rows, math.ceil(rate * rows - 1e-9))


def expected_found(scores: npt.ArrayLike, labels: npt.ArrayLike, k: int) -> float:
    """Positives expected among the `k` highest-scored rows, ties broken at random."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if k <= 0 or s.size == 0:
        return 0.0
    # NaN scores rank last: an unscored row is never inspected ahead of a scored one.
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[starts, s.size])
    positives = np.add.reduceat(y, starts)
    before = np.cumsum(sizes) - sizes
    taken = np.clip(k - before, 0, sizes)
    return float((positives * taken / sizes).sum())


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is absent."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Mid-rank of each tie group: ranks start at 1.
    mid_rank = np.cumsum(counts) - (counts - 1) / 2
    ranks = mid_rank[inverse]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean precision at each positive's rank (ties in input order); NaN without positives."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if y.sum() == 0:
        return float("nan")
    ranked = y[np.argsort(-s, kind="stable")]
    precision = np.cumsum(ranked) / np.arange(1, ranked.size + 1)
    return float((precision * ranked).sum() / ranked.sum())


def _rows(
    scores: Mapping[str, FloatArray],
    labels: FloatArray,
    rates: Sequence[float],
) -> list[tuple[str, float, int, int, float, float]]:
    """(method, rate, rows, inspected, positives, found) for one group of rows."""
    n = labels.size
    positives = float(labels.sum())
    out: list[tuple[str, float, int, int, float, float]] = []
    for rate in rates:
        k = inspected_count(n, rate)
        out.append((RANDOM_METHOD, rate, n, k, positives, positives * k / n if n else 0.0))
        for method, values in scores.items():
            out.append((method, rate, n, k, positives, expected_found(values, labels, k)))
    return out


def evaluate(
    frame: pl.DataFrame,
    labels: Mapping[str, str],
    methods: Mapping[str, Mapping[str, str]],
    rates: Sequence[float] = INSPECTION_RATES,
    port_column: str | None = "port_of_discharge",
) -> pl.DataFrame:
    """Recall and precision at inspection rates, per category, method and scope.

    `labels` maps a category to its 0/1 label column (the planted truth); `methods` maps a
    method name to {category: score column}. A `random` method is added with its expected
    values (recall = the inspection rate, precision = the base rate).
    """
    records: list[tuple[str, str, float, int, int, float, float, str]] = []
    for category, label_column in labels.items():
        groups: list[tuple[str, pl.DataFrame]] = [("overall", frame)]
        if port_column is not None:
            ports = frame.partition_by(port_column, as_dict=True, maintain_order=True)
            groups += [(str(key[0]), part) for key, part in sorted(ports.items(), key=str)]
        for scope, part in groups:
            y = part[label_column].cast(pl.Float64).fill_null(0).to_numpy()
            scores = {
                method: part[columns[category]].cast(pl.Float64).to_numpy()
                for method, columns in methods.items()
                if category in columns
            }
            for method, rate, n, k, positives, found in _rows(scores, y, rates):
                records.append((method, scope, rate, n, k, positives, found, category))
    result = pl.DataFrame(
        records,
        schema={
            "method": pl.String,
            "scope": pl.String,
            "rate": pl.Float64,
            "rows": pl.Int64,
            "inspected": pl.Int64,
            "positives": pl.Float64,
            "found": pl.Float64,
            "category": pl.String,
        },
        orient="row",
    )
    if port_column is not None:
        # Each port inspects its own top k%: sum the single-port rows.
        per_port = (
            result.filter(pl.col("scope") != "overall")
            .group_by("category", "method", "rate", maintain_order=True)
            .agg(pl.col("rows", "inspected", "positives", "found").sum())
            .with_columns(scope=pl.lit("per_port"))
        )
        result = pl.concat([result, per_port.select(result.columns)])
    return result.with_columns(
        recall=pl.when(pl.col("positives") > 0).then(pl.col("found") / pl.col("positives")),
        precision=pl.when(pl.col("inspected") > 0).then(pl.col("found") / pl.col("inspected")),
    ).select(
        "category",
        "method",
        "scope",
        "rate",
        "rows",
        "inspected",
        "positives",
        "found",
        "recall",
        "precision",
    )


def bootstrap_precision_recall(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    rate: float,
    *,
    resamples: int = 300,
    seed: int = 0,
    level: float = 0.9,
) -> dict[str, float]:
    """Precision and recall at `rate`, each with a percentile bootstrap interval over rows.

    Resampling rows (with replacement) and re-ranking each sample gives the spread a budget's
    precision would show on another draw of the same traffic.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    n = y.size
    k = inspected_count(n, rate)
    found = expected_found(s, y, k)
    positives = float(y.sum())
    rng = np.random.default_rng(seed)
    precisions = np.empty(resamples)
    recalls = np.empty(resamples)
    for i in range(resamples):
        pick = rng.integers(0, n, n) if n else np.empty(0, dtype=np.int64)
        ys = y[pick]
        hit = expected_found(s[pick], ys, k)
        precisions[i] = hit / k if k else np.nan
        recalls[i] = hit / ys.sum() if ys.sum() else np.nan
    tail = (1.0 - level) / 2 * 100

    def _interval(values: FloatArray) -> tuple[float, float]:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return math.nan, math.nan
        low, high = np.percentile(finite, [tail, 100 - tail])
        return float(low), float(high)

    p_low, p_high = _interval(precisions)
    r_low, r_high = _interval(recalls)
    return {
        "rate": rate,
        "inspected": k,
        "precision": found / k if k else math.nan,
        "precision_low": p_low,
        "precision_high": p_high,
        "recall": found / positives if positives else math.nan,
        "recall_low": r_low,
        "recall_high": r_high,
    }


def reliability(
    probabilities: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 10
) -> pl.DataFrame:
    """Reliability curve: rows ranked by score into `bins` equal-count bins.

    Grain: one row per bin, with its mean predicted probability, observed rate and rows.
    Equal-count bins, because at a base rate near 1 % equal-width bins leave all but one empty.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    parts = [part for part in np.array_split(order, bins) if part.size]
    return pl.DataFrame(
        {
            "bin": list(range(len(parts))),
            "predicted": [float(p[part].mean()) for part in parts],
            "observed": [float(y[part].mean()) for part in parts],
            "rows": [int(part.size) for part in parts],
        }
    )


def calibration_ratio(
    probabilities: npt.ArrayLike, labels: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> float:
    """Mean predicted probability over the observed rate (1 = calibrated on average).

    `weights` (the training set's importance weights) make both means stand for the traffic,
    as calibration was fitted, rather than for the rows the old policy chose.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if y.size == 0:
        return math.nan
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=np.float64)
    observed = float(np.average(y, weights=w))
    return float(np.average(p, weights=w)) / observed if observed > 0 else math.nan


def version_metrics(
    probabilities: npt.ArrayLike,
    labels: npt.ArrayLike,
    rates: Sequence[float] = INSPECTION_RATES,
    *,
    weights: npt.ArrayLike | None = None,
    resamples: int = 300,
    seed: int = 0,
) -> dict[str, object]:
    """Everything the gate and the model card read for one category on one evaluation set.

    Precision and recall count the rows as given (inspected rows: what can be checked);
    `weights` apply to the calibration ratio only.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    pr_auc = average_precision(p, y)
    return {
        "rows": int(y.size),
        "positives": int(y.sum()),
        "pr_auc": None if math.isnan(pr_auc) else pr_auc,
        "calibration_ratio": _none_if_nan(calibration_ratio(p, y, weights)),
        "at_rates": [
            {
                key: _none_if_nan(value) if isinstance(value, float) else value
                for key, value in bootstrap_precision_recall(
                    p, y, r, resamples=resamples, seed=seed
                ).items()
            }
            for r in rates
        ],
    }


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def paired_precision_difference(
    challenger: npt.ArrayLike,
    champion: npt.ArrayLike,
    labels: npt.ArrayLike,
    rate: float,
    *,
    resamples: int = 300,
    seed: int = 0,
    level: float = 0.9,
) -> dict[str, float]:
    """Challenger minus champion precision at `rate`, with a paired bootstrap interval.

    Both rank the same resampled rows each time, so what the two share (the rows, their
    findings) cancels out: the interval is that of the difference, far narrower than the two
    separate intervals side by side.
    """
    a = np.asarray(challenger, dtype=np.float64)
    b = np.asarray(champion, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    n = y.size
    k = inspected_count(n, rate)
    if k == 0:
        return {"rate": rate, "difference": math.nan, "low": math.nan, "high": math.nan}
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for i in range(resamples):
        pick = rng.integers(0, n, n)
        differences[i] = (
            expected_found(a[pick], y[pick], k) - expected_found(b[pick], y[pick], k)
        ) / k
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail]) if resamples else (math.nan,) * 2
    return {
        "rate": rate,
        "difference": (expected_found(a, y, k) - expected_found(b, y, k)) / k,
        "low": float(low),
        "high": float(high),
    }
