"""Training: labels from inspection outcomes, a time split, one calibrated LightGBM per category.

Grain of the labelled training set: one row per inspected declaration item, with a 0/1 label per
threat category, whether the old policy or the random sample chose it, and an importance weight.
See docs/decisions/0007-training-labels.md for why rows are weighted and uninspected rows left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from models.calibration import PlattCalibrator, fit_platt
from models.evaluation import auc, average_precision
from models.registry import CATEGORIES, CategoryModel, ThreatModels
from models.scoring import feature_matrix

KEY = ("declaration_id", "item_no")
WEIGHT = "weight"
SAMPLE = "sample"
"""`policy` (chosen by risk, rule, watch list or by hand) or `random` (the unbiased sample)."""

Weighting = Literal["inverse_rate", "none"]
Structure = Literal["per_category", "pooled", "pooled_heads"]
"""One booster per threat category; one on any threat shared by all, split by each category's
share of the findings; or that shared booster continued per category on its own label
(decision 0019)."""


def label_column(category: str) -> str:
    """Name of the 0/1 label column of a threat category."""
    return f"label_{category}"


@dataclass(frozen=True)
class TrainingParams:
    """LightGBM settings and the validation split; fixed seed and threads make runs repeatable."""

    learning_rate: float = 0.1
    """0.1 rather than 0.05: 40-55 % fewer trees (scoring cost grows with trees) for the same
    validation AUC and average precision within 0.005 on two bench worlds
    (docs/decisions/0007-training-labels.md, "Learning rate")."""
    # 100 rows a leaf (decision 0007) left a few thousand inspected rows a handful of leaves:
    # a dozen findings could not get a leaf of their own, and on worlds the settings were
    # not tuned to the models fell behind a plain LightGBM (decision 0019). Early stopping
    # and L2 keep the finer trees in check.
    num_leaves: int = 15
    min_data_in_leaf: int = 5
    lambda_l2: float = 10.0
    feature_fraction: float = 0.5
    num_boost_round: int = 600
    early_stopping_rounds: int = 60
    num_threads: int = 1
    """One thread: identical trees on any machine, and on a busy 2-core box it was 10x faster
    than two (OpenMP threads spin while waiting for a core)."""
    seed: int = 20261129
    validation_share: float = 0.25
    """Share of the findings (and, where possible, rows) in the calibration window, which
    stops the boosting early and fits the calibration."""
    gate_share: float = 0.2
    """Share of the findings in the gate window, the latest dates, which only the
    champion/challenger gate reads (decision 0019); 0 gates on the calibration window."""
    structure: Structure = "pooled_heads"
    """One booster on any threat learns from all findings at once; per category, each model
    had a dozen and ranked worse on worlds it was not tuned on (decision 0019)."""
    refit: bool = True
    """Pooled structures: once early stopping has chosen the number of trees, grow them again
    on the train and calibration windows together, keeping the calibration fitted on the
    early-stopped trees' unseen scores."""
    final_trees_on_gate: bool = True
    """With `refit` and a gate window of its own: the trees that score are grown once more on
    all three windows (same number of trees, same calibration), so the latest findings reach
    them; the trees grown without the gate window are kept beside them for the gate to judge
    (`ThreatModels.gate_trees`). Left out, the newest fifth of the findings never reached a
    shipped tree; on eight sparse tuning worlds that cost 14 of 194 planted threats at 1 % in
    the list's order (19 by the score alone; decision 0044)."""
    weighting: Weighting = "inverse_rate"
    weight_trees: bool = True
    """Weight rows when growing trees too, not only when calibrating. Off in decision 0007 (on
    its one test world the trees ranked better from the rows as inspected); on since decision
    0019: where the old policy misses a disguise, its only findings come from the random
    sample, and weighted (capped) they are what the trees learn it from."""
    max_weight: float | None = 10.0
    """Cap on a row's weight in calibration (and in the trees with `weight_trees`): a random
    finding weighing ~100 rows made trees chase single rows (docs/decisions/0007)."""
    min_findings: int = 10
    """Fewer findings of a category than this (both slices) train, but with a warning."""

    def lightgbm(self) -> dict[str, Any]:
        """Parameters for `lgb.train`. No is_unbalance / scale_pos_weight: they would bend the
        probabilities that calibration and risk_score rely on; the base rate is learnt as is."""
        return {
            "objective": "binary",
            "metric": ["binary_logloss"],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.lambda_l2,
            "feature_fraction": self.feature_fraction,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }


def stratum_sizes(features: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Rows per (filing date, port of discharge): the denominators of the sampling rates.

    Taking them apart lets a stage count every row cheaply while loading only inspected rows.
    """
    frame = features.lazy()
    keys = _stratum(frame.collect_schema().names())
    return frame.group_by(keys).agg(pl.len().alias("_rows")).collect()


def _stratum(columns: Sequence[str]) -> list[str]:
    return (
        ["_filed_date", "port_of_discharge"] if "port_of_discharge" in columns else ["_filed_date"]
    )


def label_inspected(
    features: pl.DataFrame,
    outcomes: pl.DataFrame,
    weighting: Weighting = "inverse_rate",
    categories: Sequence[str] = CATEGORIES,
    sizes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Inspected feature rows with per-category labels, sample and weight.

    An outcome without `item_no` covers every item of its declaration. A row inspected by the
    policy and by the random draw counts as policy. With `inverse_rate`, each random row weighs
    1 / (random inspections / rows the policy left) within its port and filing date, so policy
    rows plus weighted random rows stand for the whole day's traffic; with `none`, all weigh 1.
    `sizes` (from `stratum_sizes`) gives the day's row counts when `features` holds only some
    rows; by default they are counted in `features`.
    """
    for name in (*KEY, "filed_at"):
        if name not in features.columns:
            raise ValueError(f"features frame lacks key column {name!r}")
    for name in ("declaration_id", "item_no", "selection_reason", "result", "finding_category"):
        if name not in outcomes.columns:
            raise ValueError(f"outcomes frame lacks column {name!r}")
    # An amendment filed on a later day reappears in a later partition: the latest filing wins.
    rows = (
        features.sort("filed_at", maintain_order=True)
        .unique(list(KEY), keep="last", maintain_order=True)
        .with_columns(pl.col("item_no").cast(pl.Int64))
    )
    keys = rows.select(KEY)
    found = pl.col("result") == "finding"
    wanted = ["declaration_id", "item_no", "selection_reason", "result", "finding_category"]
    per_item = outcomes.filter(pl.col("item_no").is_not_null()).select(wanted)
    per_declaration = (
        outcomes.filter(pl.col("item_no").is_null())
        .drop("item_no")
        .join(keys, on="declaration_id", how="inner")
        .select(wanted)
    )
    matched = pl.concat(
        [frame.cast({"item_no": pl.Int64}) for frame in (per_item, per_declaration)]
    )
    per_row = matched.group_by(KEY).agg(
        (pl.col("selection_reason") != "random").any().alias("_policy"),
        *(
            (found & (pl.col("finding_category") == c)).any().cast(pl.Int8).alias(label_column(c))
            for c in categories
        ),
    )
    labelled = rows.join(per_row, on=list(KEY), how="inner", maintain_order="left").with_columns(
        pl.col("filed_at").dt.date().alias("_filed_date"),
        pl.when(pl.col("_policy")).then(pl.lit("policy")).otherwise(pl.lit("random")).alias(SAMPLE),
    )
    stratum = _stratum(labelled.columns)
    if sizes is None:
        sizes = stratum_sizes(rows.with_columns(pl.col("filed_at").dt.date().alias("_filed_date")))
    drawn = labelled.group_by(stratum).agg(
        pl.col("_policy").sum().alias("_policy_rows"),
        (~pl.col("_policy")).sum().alias("_random_rows"),
    )
    rates = drawn.join(sizes, on=stratum, how="left").with_columns(
        (
            pl.col("_random_rows") / (pl.col("_rows") - pl.col("_policy_rows")).clip(lower_bound=1)
        ).alias("_rate")
    )
    random_row = pl.col(SAMPLE) == "random"
    weight = (
        pl.lit(1.0)
        if weighting == "none"
        # A random row in a stratum the sizes do not cover stands only for itself.
        else pl.when(random_row & (pl.col("_rate") > 0))
        .then(1.0 / pl.col("_rate").clip(upper_bound=1.0))
        .otherwise(1.0)
    )
    return (
        labelled.join(
            rates.select(*stratum, "_rate"), on=stratum, how="left", maintain_order="left"
        )
        .with_columns(weight.cast(pl.Float64).alias(WEIGHT))
        .drop("_policy", "_filed_date", "_rate")
    )


def time_split(
    labelled: pl.DataFrame, validation_share: float, categories: Sequence[str] = CATEGORIES
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split into earlier filing dates and a later slice.

    The later slice starts at the latest filing date from which it holds at least
    `validation_share` of each category's findings (at least one) while the earlier slice
    keeps some too, and, where possible, `validation_share` of the rows: with a few dozen
    findings, a split by days alone often leaves one slice without any.
    """
    by_day = (
        labelled.group_by(pl.col("filed_at").dt.date().alias("_day"))
        .agg(pl.len().alias("rows"), *(pl.col(label_column(c)).sum() for c in categories))
        .sort("_day", descending=True)
    )
    if by_day.height < 2:
        raise ValueError(
            f"training needs inspected rows on at least two filing dates, found {by_day.height}"
        )
    labels = [label_column(c) for c in categories]
    # Running totals from the latest day backwards: what a slice starting that day would hold.
    later = by_day.head(by_day.height - 1).select(
        "_day", *(pl.col(c).cum_sum() for c in ("rows", *labels))
    )
    totals = by_day.select(pl.col(c).sum() for c in ("rows", *labels)).row(0, named=True)
    # Findings first: each slice keeps some of every category; the row share is a preference.
    findings = pl.all_horizontal(
        *(pl.col(c) >= max(1, math.ceil(validation_share * totals[c])) for c in labels),
        *(pl.col(c) < totals[c] for c in labels),
    )
    rows = pl.col("rows") >= math.ceil(validation_share * totals["rows"])
    preferred = later.filter(findings & rows)["_day"]
    acceptable = later.filter(findings)["_day"]
    if preferred.len():
        first_valid = preferred[0]
    elif acceptable.len():
        first_valid = acceptable[0]
    else:
        # No split serves every category; training then names the one that lacks findings.
        first_valid = later["_day"][later.height - 1]
    is_valid = pl.col("filed_at").dt.date() >= first_valid
    return labelled.filter(~is_valid), labelled.filter(is_valid)


@dataclass(frozen=True)
class Windows:
    """Three consecutive time windows of the labelled rows, earliest first.

    `train` grows the trees; `calibration` stops the boosting early and fits the calibration;
    `gate` is what the champion/challenger gate measures on, unseen by the other two. With
    too few findings for three windows, `gate` is the calibration window (`gate_shared`) and
    `note` says why.
    """

    train: pl.DataFrame
    calibration: pl.DataFrame
    gate: pl.DataFrame
    gate_shared: bool
    note: str | None = None

    def dates(self) -> dict[str, dict[str, Any]]:
        """First and last filing date of each window, for the version's metadata."""
        return {
            name: {
                "first": _day(frame, "min"),
                "last": _day(frame, "max"),
                "rows": frame.height,
            }
            for name, frame in (
                ("train", self.train),
                ("calibration", self.calibration),
                ("gate", self.gate),
            )
        }


def _day(frame: pl.DataFrame, which: Literal["min", "max"]) -> str | None:
    days = frame.get_column("filed_at").dt.date()
    value = days.min() if which == "min" else days.max()
    return None if value is None else str(value)


def _findings(frame: pl.DataFrame, categories: Sequence[str]) -> dict[str, int]:
    return {c: int(frame.get_column(label_column(c)).sum()) for c in categories}


def _without_findings(frames: Mapping[str, pl.DataFrame], categories: Sequence[str]) -> list[str]:
    return [
        f"no {category} finding in the {name}"
        for name, frame in frames.items()
        for category, n in _findings(frame, categories).items()
        if n == 0
    ]


def time_windows(
    labelled: pl.DataFrame, params: TrainingParams, categories: Sequence[str] = CATEGORIES
) -> Windows:
    """Cut the labelled rows by filing date into train, calibration and gate windows.

    The gate window is cut first, from the latest dates, holding about `gate_share` of each
    category's findings; the rest is cut into train and calibration as `time_split` does.
    When the findings do not allow a gate window with a finding of every category while the
    earlier two keep some (fewer than three findings, or all on one or two days), the gate
    falls back to the calibration window, said in `note` and logged with the decision. When
    even two windows cannot both hold a category's findings, the cut is made for the other
    categories and `note` names what is missing where.
    """
    totals = _findings(labelled, categories)
    # Categories that can shape the cut, most findings first; one without any cannot.
    found = sorted((c for c in categories if totals[c] > 0), key=lambda c: -totals[c])
    problems: list[str] = []
    # Every category first, three windows before two; then, when a scarce category (its
    # findings all on one day, say) makes every cut fail, the others alone. Training then
    # names the category it cannot train.
    subsets = [found[:k] for k in range(len(found), 0, -1)] or [list(categories)]
    for subset in subsets:
        if params.gate_share > 0:
            three = _three_windows(labelled, params, subset)
            if isinstance(three, Windows):
                left_out = _without_findings(
                    {"train": three.train, "calibration": three.calibration, "gate": three.gate},
                    categories,
                )
                return replace(three, note="; ".join(left_out) or None)
            problems.extend(p for p in three if p not in problems)
        else:
            problems = ["gate_share is 0"]
        train, calibration = time_split(labelled, params.validation_share, subset)
        if not _without_findings({"train": train, "calibration": calibration}, subset):
            break
    note = (
        "gate window shares the calibration window: too few findings for three windows "
        f"({'; '.join(problems)}; findings in all: "
        + ", ".join(f"{c} {n}" for c, n in totals.items())
        + "); the gate then measures on rows the calibration was fitted on"
    )
    return Windows(train, calibration, calibration, gate_shared=True, note=note)


def _three_windows(
    labelled: pl.DataFrame, params: TrainingParams, categories: Sequence[str]
) -> Windows | list[str]:
    """Train, calibration and gate windows that each hold findings of `categories`, or what
    stood in the way."""
    try:
        rest, gate = time_split(labelled, params.gate_share, categories)
        problems = _without_findings({"earlier windows": rest, "gate": gate}, categories)
        if problems:
            return problems
        # The calibration share is of all rows; `rest` holds (1 - gate share) of them.
        share = min(0.9, params.validation_share / max(1e-9, 1.0 - params.gate_share))
        train, calibration = time_split(rest, share, categories)
    except ValueError as error:
        return [str(error)]
    problems = _without_findings({"train": train, "calibration": calibration}, categories)
    return problems or Windows(train, calibration, gate, gate_shared=False)


def _column(frame: pl.DataFrame, name: str) -> npt.NDArray[np.float64]:
    return frame.get_column(name).cast(pl.Float64).to_numpy()


def _fit_booster(
    train: pl.DataFrame,
    calibration: pl.DataFrame,
    feature_names: tuple[str, ...],
    *,
    y_train: npt.NDArray[np.float64],
    y_calibration: npt.NDArray[np.float64],
    params: TrainingParams,
    init_model: lgb.Booster | None = None,
) -> lgb.Booster:
    """A booster grown on `train`, early-stopped on `calibration`, trimmed to its best round;
    with `init_model`, its trees come first and the new ones continue from its scores."""
    w_train = _capped(_column(train, WEIGHT), params.max_weight)
    w_calibration = _capped(_column(calibration, WEIGHT), params.max_weight)
    # Trees learn from the rows as inspected unless asked otherwise (decision 0007, 0019).
    if not params.weight_trees:
        w_train, w_calibration = np.ones(train.height), np.ones(calibration.height)
    train_set = lgb.Dataset(
        feature_matrix(train, feature_names),
        label=y_train,
        weight=w_train,
        feature_name=list(feature_names),
        free_raw_data=False,
    )
    stop_set = lgb.Dataset(
        feature_matrix(calibration, feature_names),
        label=y_calibration,
        weight=w_calibration,
        feature_name=list(feature_names),
        reference=train_set,
        free_raw_data=False,
    )
    booster = lgb.train(
        params.lightgbm(),
        train_set,
        num_boost_round=params.num_boost_round,
        valid_sets=[stop_set],
        valid_names=["calibration"],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
        init_model=init_model,
    )
    best = booster.best_iteration or booster.current_iteration()
    # Keep only the trees scoring uses, so the saved text is the model, with no iteration to pass.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _refit(
    rows: pl.DataFrame,
    feature_names: tuple[str, ...],
    y: npt.NDArray[np.float64],
    *,
    rounds: int,
    params: TrainingParams,
    init_model: lgb.Booster | None = None,
) -> lgb.Booster:
    """`rounds` trees grown on `rows` (train and calibration windows together), no stopping."""
    weights = _capped(_column(rows, WEIGHT), params.max_weight)
    if not params.weight_trees:
        weights = np.ones(rows.height)
    data = lgb.Dataset(
        feature_matrix(rows, feature_names),
        label=y,
        weight=weights,
        feature_name=list(feature_names),
        free_raw_data=False,
    )
    booster = lgb.train(params.lightgbm(), data, num_boost_round=rounds, init_model=init_model)
    return lgb.Booster(model_str=booster.model_to_string())


def _metrics(
    train: pl.DataFrame,
    calibration: pl.DataFrame,
    category: str,
    *,
    booster: lgb.Booster,
    calibrator: PlattCalibrator,
    raw: npt.NDArray[np.float64],
    params: TrainingParams,
) -> dict[str, Any]:
    """Training figures of one category on the calibration window (the gate's come later)."""
    label = label_column(category)
    y = _column(calibration, label)
    weights = _capped(_column(calibration, WEIGHT), params.max_weight)
    calibrated = calibrator.apply(raw)
    random_rows = (calibration[SAMPLE] == "random").to_numpy()
    return _finite(
        {
            "train_rows": train.height,
            "valid_rows": calibration.height,
            "train_positives": int(train[label].sum()),
            "valid_positives": int(calibration[label].sum()),
            "best_iteration": booster.current_iteration(),
            "valid_auc": auc(raw, y),
            "valid_average_precision": average_precision(raw, y),
            "valid_auc_random_sample": auc(raw[random_rows], y[random_rows]),
            "valid_mean_calibrated": float(np.average(calibrated, weights=weights)),
            "valid_observed_rate": float(np.average(y, weights=weights)),
        }
    )


def train_category(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    feature_names: tuple[str, ...],
    category: str,
    params: TrainingParams,
) -> tuple[CategoryModel, dict[str, Any]]:
    """One booster for one category, early-stopped on the calibration window `valid` and
    Platt-calibrated on it; plus its metrics."""
    label = label_column(category)
    found = (int(train[label].sum()), int(valid[label].sum()))
    if 0 in found:
        raise ValueError(
            f"{category}: cannot train without findings in both slices "
            f"(train {found[0]}, validation {found[1]}): findings on at least two filing "
            "dates are needed; train on a longer history, or use the pooled structure"
        )
    y_valid = _column(valid, label)
    booster = _fit_booster(
        train,
        valid,
        feature_names,
        y_train=_column(train, label),
        y_calibration=y_valid,
        params=params,
    )
    raw = np.asarray(
        booster.predict(feature_matrix(valid, feature_names), raw_score=True), dtype=np.float64
    )
    weights = _capped(_column(valid, WEIGHT), params.max_weight)
    calibrator = fit_platt(raw, y_valid, weights)
    metrics = _metrics(
        train, valid, category, booster=booster, calibrator=calibrator, raw=raw, params=params
    )
    return CategoryModel(booster=booster, calibrator=calibrator), metrics


def _any_finding(frame: pl.DataFrame, categories: Sequence[str]) -> npt.NDArray[np.float64]:
    return (
        frame.select(pl.max_horizontal(*(pl.col(label_column(c)) for c in categories)))
        .to_series()
        .cast(pl.Float64)
        .to_numpy()
    )


def train_pooled(
    train: pl.DataFrame,
    calibration: pl.DataFrame,
    feature_names: tuple[str, ...],
    categories: Sequence[str],
    params: TrainingParams,
    *,
    later: pl.DataFrame | None = None,
) -> tuple[dict[str, CategoryModel], dict[str, Any], dict[str, CategoryModel] | None]:
    """One booster on "any threat", shared by every category, with a calibration per category.

    The booster learns from every finding at once (a few dozen, rather than a dozen per
    category). Its Platt fit on the any-threat label, shifted by the log of the category's
    share of the findings, gives each category's probability: p_c = p_any * share_c while
    probabilities are small. The share is smoothed (+1 per category), so a category without
    findings in a window still gets a small, finite probability instead of stopping training.

    With `refit` and `later` rows (the gate window), the trees are also grown on all the rows,
    the same number of them with the same calibrations: returned third, the models to score
    with; the first models are then the ones the gate judges. Without, the third is None.
    """
    y_train = _any_finding(train, categories)
    y_calibration = _any_finding(calibration, categories)
    if not y_train.any() or not y_calibration.any():
        raise ValueError(
            f"cannot train without findings in both windows (train {int(y_train.sum())}, "
            f"calibration {int(y_calibration.sum())}, any category): findings on at least two "
            "filing dates are needed; train on a longer history"
        )
    booster = _fit_booster(
        train,
        calibration,
        feature_names,
        y_train=y_train,
        y_calibration=y_calibration,
        params=params,
    )
    # Built once: the shared booster and every category head score the same calibration rows.
    x_calibration = feature_matrix(calibration, feature_names)
    raw = np.asarray(booster.predict(x_calibration, raw_score=True), dtype=np.float64)
    weights = _capped(_column(calibration, WEIGHT), params.max_weight)
    pooled = fit_platt(raw, y_calibration, weights)
    both = pl.concat([train, calibration], how="diagonal_relaxed")
    counts = {c: float(both[label_column(c)].sum()) for c in categories}
    total = sum(counts.values())
    early: dict[str, CategoryModel] = {}
    head_rounds: dict[str, int] = {}
    metrics: dict[str, Any] = {}
    for category in categories:
        share = (counts[category] + 1.0) / (total + len(categories))
        label = label_column(category)
        head, head_raw = booster, raw
        calibrator = PlattCalibrator(
            slope=pooled.slope, intercept=pooled.intercept + math.log(share)
        )
        found = (int(train[label].sum()), int(calibration[label].sum()))
        if params.structure == "pooled_heads" and 0 not in found:
            # The category's own trees continue from the shared ones, stopped early on its
            # own label: none are kept when they do not help.
            y_category = _column(calibration, label)
            head = _fit_booster(
                train,
                calibration,
                feature_names,
                y_train=_column(train, label),
                y_calibration=y_category,
                params=params,
                init_model=booster,
            )
            head_raw = np.asarray(head.predict(x_calibration, raw_score=True), dtype=np.float64)
            calibrator = fit_platt(head_raw, y_category, weights)
        head_rounds[category] = head.current_iteration() - booster.current_iteration()
        early[category] = CategoryModel(booster=head, calibrator=calibrator)
        metrics[category] = {
            **_metrics(
                train,
                calibration,
                category,
                booster=head,
                calibrator=calibrator,
                raw=head_raw,
                params=params,
            ),
            "category_share": share,
            "shared_trees": booster.current_iteration(),
            "trees": head.current_iteration(),
        }
    if not params.refit:
        return early, metrics, None

    def regrown(rows: pl.DataFrame) -> dict[str, CategoryModel]:
        # Same number of trees, grown on `rows`; the calibrations fitted above on the
        # early-stopped trees' unseen scores stay (the gate window checks them).
        shared = _refit(
            rows,
            feature_names,
            _any_finding(rows, categories),
            rounds=booster.current_iteration(),
            params=params,
        )
        grown: dict[str, CategoryModel] = {}
        for category, model in early.items():
            extra = head_rounds[category]
            trees = shared
            if extra > 0:
                trees = _refit(
                    rows,
                    feature_names,
                    _column(rows, label_column(category)),
                    rounds=extra,
                    params=params,
                    init_model=shared,
                )
            grown[category] = CategoryModel(booster=trees, calibrator=model.calibrator)
        return grown

    judged = regrown(both)
    if later is None or later.is_empty():
        return judged, metrics, None
    return judged, metrics, regrown(pl.concat([both, later], how="diagonal_relaxed"))


def _capped(weights: npt.NDArray[np.float64], cap: float | None) -> npt.NDArray[np.float64]:
    return weights if cap is None else np.minimum(weights, cap)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    # NaN is not valid JSON: an undefined metric is written as null.
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def train_threat_models(
    labelled: pl.DataFrame,
    feature_names: Sequence[str],
    phrases: Mapping[str, str],
    params: TrainingParams | None = None,
    categories: Sequence[str] = CATEGORIES,
) -> tuple[ThreatModels, dict[str, Any]]:
    """Train and calibrate the threat models on a labelled set from `label_inspected`.

    Trees learn from the train window, stop early and are calibrated on the calibration
    window; the gate window is left for the champion/challenger gate (`time_windows`). With
    `final_trees_on_gate`, the trees that score are then grown on all three windows, and the
    ones grown without the gate window ride along as `gate_trees` for the gate to judge.
    Returns the models (version not yet assigned) and metadata: params, windows and metrics.
    """
    params = params or TrainingParams()
    names = tuple(feature_names)
    windows = time_windows(labelled, params, categories)
    train, valid = windows.train, windows.calibration
    models: dict[str, CategoryModel] = {}
    metrics: dict[str, Any] = {}
    final: dict[str, CategoryModel] | None = None
    if params.structure != "per_category":
        later = None if windows.gate_shared or not params.final_trees_on_gate else windows.gate
        models, metrics, final = train_pooled(train, valid, names, categories, params, later=later)
    else:
        for category in categories:
            models[category], metrics[category] = train_category(
                train, valid, names, category, params
            )
    dates = labelled.get_column("filed_at").dt.date()
    warnings = [
        f"{category}: only {m['train_positives'] + m['valid_positives']} findings "
        f"({m['train_positives']} train, {m['valid_positives']} validation); "
        "its ranking rests on very few examples"
        for category, m in metrics.items()
        if m["train_positives"] + m["valid_positives"] < params.min_findings
    ]
    if windows.note:
        warnings.append(windows.note)
    metadata = {
        "warnings": warnings,
        "params": asdict(params),
        "lightgbm_version": lgb.__version__,
        "training_dates": {"first": str(dates.min()), "last": str(dates.max())},
        # Kept for readers of older versions: the calibration window's first date.
        "validation_from": _day(valid, "min"),
        "windows": windows.dates(),
        "gate_shared_with_calibration": windows.gate_shared,
        # The scoring trees also learnt from the gate window; the gate judges `gate-*.txt`.
        "final_trees_on_gate": final is not None,
        "gate_findings": _findings(windows.gate, categories),
        "rows": {
            "labelled": labelled.height,
            "random_sample": int((labelled[SAMPLE] == "random").sum()),
            "train": train.height,
            "valid": valid.height,
            "gate": 0 if windows.gate_shared else windows.gate.height,
        },
        "metrics": metrics,
    }
    phrase_map = {name: phrases[name] for name in names if name in phrases}
    if final is None:
        return ThreatModels(feature_names=names, phrases=phrase_map, categories=models), metadata
    threat_models = ThreatModels(
        feature_names=names, phrases=phrase_map, categories=final, gate_trees=models
    )
    return threat_models, metadata
