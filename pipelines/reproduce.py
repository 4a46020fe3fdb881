"""The KCS public benchmark: train on one labelled KCS file, report precision at inspection rates.

Grain: `kcs_features` gives one row per KCS declaration (each KCS row is one goods item of its
own declaration) with point-in-time features; `precision_table` one row per (file, label,
inspection rate). Files arrive in the KCS layout and go through the shipped mapping
(contracts/mappings/kcs.yaml); labels come back from the mapped outcomes (`kcs_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from contracts.mapping import (
    MappingError,
    apply_mapping,
    kcs_labels,
    load_mapping,
    mapping_outcomes,
)
from models.evaluation import INSPECTION_RATES, average_precision, expected_found, inspected_count

LABELS: dict[str, str] = {"fraud": "Fraud", "critical_fraud": "Critical Fraud == 2"}
"""Label column -> the name the paper uses."""
SCORE_COLUMNS: dict[str, str] = {"fraud": "score_fraud", "critical_fraud": "score_critical_fraud"}

History = Literal["frozen", "rolling"]
"""Whose labels entity rates may use: `frozen` only the training file's (the paper's setting:
nothing of the evaluated quarter is known); `rolling` also the evaluated files' labels from
earlier dates (an agency retraining its rates nightly)."""

# Low-cardinality KCS codes LightGBM splits on as categories.
CATEGORICAL = (
    "kcs_office_id",
    "kcs_process_type",
    "kcs_import_type",
    "kcs_import_use",
    "kcs_payment_type",
    "kcs_transport_code",
    "kcs_tax_type",
    "kcs_origin_indicator",
    "country_of_origin",
    "country_of_dispatch",
    "hs2",
    "hs4",
)
NUMERIC = ("kcs_tax_rate", "net_mass_kg", "declared_value", "log_unit_price", "has_courier")
# Entities (and pairs of parties) whose past fraud rates are features.
ENTITIES: dict[str, tuple[str, ...]] = {
    "importer": ("consignee_id",),
    "declarant": ("declarant_id",),
    "seller": ("shipper_id",),
    "hs6": ("hs_code",),
    "office": ("kcs_office_id",),
    "origin": ("country_of_origin",),
    "departure": ("country_of_dispatch",),
    "importer_declarant": ("consignee_id", "declarant_id"),
    "importer_seller": ("consignee_id", "shipper_id"),
    "importer_hs6": ("consignee_id", "hs_code"),
    "declarant_hs6": ("declarant_id", "hs_code"),
}
SMOOTHING_ROWS = 10.0
"""Prior weight of the smoothed rates: an entity with 10 past rows sits halfway to the base."""
DAY = "_day"
ROLE = "_role"


@dataclass(frozen=True)
class KcsParams:
    """LightGBM settings for KCS: a quarter of rows are frauds, so trees can be larger than the
    threat models'. The last `stopping_share` of the training dates stop the boosting.

    Measured on the valid file (docs/reproduce-kcs.md): at learning rate 0.03 and 31 leaves the
    model was still improving at 8,000 trees; 0.1 and 63 leaves stop near 3,100 and rank best."""

    learning_rate: float = 0.1
    num_leaves: int = 63
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    lambda_l2: float = 5.0
    num_boost_round: int = 10_000
    early_stopping_rounds: int = 300
    stopping_share: float = 0.15
    seed: int = 20261129
    num_threads: int = 1

    def lightgbm(self) -> dict[str, Any]:
        """Parameters for `lgb.train`."""
        return {
            "objective": "binary",
            "metric": ["average_precision"],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": 20.0,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }


@dataclass
class KcsResult:
    """Precision per file, label and rate; the scores of each evaluated file; what was used."""

    precision: pl.DataFrame
    scores: dict[str, pl.DataFrame]
    feature_names: tuple[str, ...]
    best_iterations: dict[str, int] = field(default_factory=dict)


def read_kcs(path: Path) -> pl.DataFrame:
    """A KCS CSV through the shipped mapping: typed columns, labels, one row per declaration."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such KCS file")
    raw = pl.read_csv(path, infer_schema=False)
    mapping = load_mapping("kcs")
    try:
        mapped = apply_mapping(raw, mapping)
        outcomes = mapping_outcomes(raw, mapping)
    except MappingError as error:
        raise ValueError(f"{path}: {error}") from error
    if outcomes is None:
        raise ValueError("the shipped kcs mapping maps no outcomes")
    labels = kcs_labels(outcomes)
    if labels.height != raw.height:
        raise ValueError(f"{path}: {raw.height - labels.height} row(s) lack Fraud/Critical Fraud")
    frame = mapped.join(labels, on="declaration_id", how="left", maintain_order="left")
    bad = frame.filter(pl.col("filed_at").is_null() | pl.col("fraud").is_null())
    if bad.height:
        first = bad["declaration_id"][0]
        raise ValueError(f"{path}: declaration {first}: missing or unreadable Date or Fraud")
    return frame.select(
        "declaration_id",
        pl.col("filed_at").str.slice(0, 10).str.to_date("%Y-%m-%d").alias(DAY),
        *(pl.col(c) for c in (*ENTITY_COLUMNS, *CATEGORICAL_SOURCE)),
        pl.col("hs_code").str.slice(0, 2).alias("hs2"),
        pl.col("hs_code").str.slice(0, 4).alias("hs4"),
        pl.col("kcs_tax_rate").cast(pl.Float64, strict=False),
        # The mapping fills 0.0 kg with 0.05 (marked defaulted); the raw mass is what KCS gave.
        pl.col("gross_mass_kg").cast(pl.Float64, strict=False).alias("net_mass_kg"),
        pl.col("declared_value").cast(pl.Float64, strict=False),
        pl.col("carrier_code").is_not_null().cast(pl.Int8).alias("has_courier"),
        pl.col("fraud").cast(pl.Int8),
        (pl.col("critical_fraud") == 2).cast(pl.Int8).alias("critical_fraud"),
    ).with_columns(
        (pl.col("declared_value") / pl.col("net_mass_kg")).log().alias("log_unit_price"),
    )


ENTITY_COLUMNS = tuple(dict.fromkeys(c for cols in ENTITIES.values() for c in cols))
CATEGORICAL_SOURCE = tuple(
    c for c in CATEGORICAL if c not in ENTITY_COLUMNS and c not in ("hs2", "hs4")
)


def _prior_sums(frame: pl.DataFrame, keys: Sequence[str], sums: Sequence[pl.Expr]) -> pl.DataFrame:
    """Per key and day, the sums over all earlier days of that key (today excluded)."""
    daily = frame.group_by(*keys, DAY).agg(*sums).sort(DAY)
    names = [c for c in daily.columns if c not in (*keys, DAY)]
    window = list(keys) if keys else None
    cumulated = [
        ((pl.col(n).cum_sum().over(window) if window else pl.col(n).cum_sum()) - pl.col(n)).alias(n)
        for n in names
    ]
    return daily.with_columns(cumulated)


def _entity_rates(history: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Smoothed past fraud and critical-fraud rates of each entity, as known before each day."""
    label_sums = [
        pl.col("_known").sum().alias("_past_n"),
        *(pl.col(f"_{lb}").sum().alias(f"_past_{lb}") for lb in LABELS),
    ]
    base = _prior_sums(history, [], label_sums).rename(
        {"_past_n": "_base_n", **{f"_past_{lb}": f"_base_{lb}" for lb in LABELS}}
    )
    # `frame` is `history` itself, so every (key, day) of a row has its line in the sums.
    out = frame.join(base, on=DAY, how="left", maintain_order="left")
    past = ["_past_n", *(f"_past_{lb}" for lb in LABELS)]
    for name, keys in ENTITIES.items():
        prior = _prior_sums(history, keys, label_sums)
        # A null key (no seller) matches nothing: it gets the base rate.
        out = out.join(prior, on=[*keys, DAY], how="left", maintain_order="left")
        out = out.with_columns(
            pl.col("_past_n").fill_null(0).alias(f"{name}_seen"),
            *(
                (
                    (pl.col(f"_past_{lb}").fill_null(0) + SMOOTHING_ROWS * _base_rate(lb))
                    / (pl.col("_past_n").fill_null(0) + SMOOTHING_ROWS)
                ).alias(f"{name}_{lb}_rate")
                for lb in LABELS
            ),
        ).drop(past)
    return out.drop("_base_n", *(f"_base_{lb}" for lb in LABELS))


def _base_rate(label: str) -> pl.Expr:
    # Before any labelled day there is no base rate: missing, not 0/0.
    return pl.when(pl.col("_base_n") > 0).then(pl.col(f"_base_{label}") / pl.col("_base_n"))


def kcs_features(frames: Sequence[pl.DataFrame], label_known: Sequence[bool]) -> list[pl.DataFrame]:
    """Point-in-time features for each frame, over the history of all of them.

    `label_known[i]` says whether frame i's labels may feed the entity rates (its own earlier
    days and later frames). Every rate and price statistic of a row uses only earlier days.
    """
    tagged = pl.concat(
        [
            f.with_columns(
                pl.lit(i, pl.Int32).alias(ROLE),
                pl.lit(known, pl.Int8).alias("_known"),
                *(
                    (pl.col(lb) if known else pl.lit(0, pl.Int8)).cast(pl.Int64).alias(f"_{lb}")
                    for lb in LABELS
                ),
            )
            for i, (f, known) in enumerate(zip(frames, label_known, strict=True))
        ]
    )
    featured = _entity_rates(tagged, tagged)
    featured = _price_position(tagged, featured)
    return [
        featured.filter(pl.col(ROLE) == i).drop(ROLE, "_known", *(f"_{lb}" for lb in LABELS))
        for i in range(len(frames))
    ]


def _price_position(history: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Log price per kg against the HS6 (and HS4) distribution of earlier days, as a z-score."""
    out = frame
    for level in ("hs_code", "hs4"):
        x = pl.col("log_unit_price")
        finite = x.is_finite()
        sums = [
            finite.sum().alias("_pn"),
            pl.when(finite).then(x).sum().alias("_ps"),
            pl.when(finite).then(x * x).sum().alias("_pss"),
        ]
        prior = _prior_sums(history, [level], sums)
        out = out.join(prior, on=[level, DAY], how="left", maintain_order="left")
        mean = pl.col("_ps") / pl.col("_pn")
        spread = (pl.col("_pss") / pl.col("_pn") - mean * mean).clip(lower_bound=0).sqrt() + 0.1
        name = "hs6" if level == "hs_code" else "hs4"
        out = out.with_columns(
            pl.when(pl.col("_pn") >= 5)
            .then((x - mean) / spread)
            .otherwise(None)
            .alias(f"{name}_price_z")
        ).drop("_pn", "_ps", "_pss")
    return out


def feature_names(careful: bool) -> tuple[str, ...]:
    """The model inputs: the KCS columns, plus the point-in-time features when `careful`."""
    plain = (*CATEGORICAL, *NUMERIC)
    if not careful:
        return plain
    rates = [
        f"{name}_{suffix}"
        for name in ENTITIES
        for suffix in ("seen", *(f"{lb}_rate" for lb in LABELS))
    ]
    return (*plain, *rates, "hs6_price_z", "hs4_price_z")


def category_codes(train: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Integer codes of each categorical value seen in training, most frequent first."""
    codes: dict[str, dict[str, int]] = {}
    for name in CATEGORICAL:
        counts = train.get_column(name).drop_nulls().value_counts(sort=True)
        codes[name] = {str(v): i for i, v in enumerate(counts.get_column(name).to_list())}
    return codes


def matrix(
    frame: pl.DataFrame, names: Sequence[str], codes: dict[str, dict[str, int]]
) -> npt.NDArray[np.float64]:
    """The model inputs as float64; unseen categories and nulls are NaN (missing)."""
    columns = [
        pl.col(n).replace_strict(codes[n], default=None, return_dtype=pl.Float64)
        if n in codes
        else pl.col(n).cast(pl.Float64)
        for n in names
    ]
    values = frame.select(columns).to_numpy()
    return np.ascontiguousarray(np.where(np.isfinite(values), values, np.nan), dtype=np.float64)


def train_label(
    train: pl.DataFrame,
    names: Sequence[str],
    codes: dict[str, dict[str, int]],
    label: str,
    params: KcsParams,
) -> lgb.Booster:
    """One booster for a label, early-stopped on the training file's latest dates."""
    days = train.get_column(DAY).unique().sort()
    first_stop = days[int(len(days) * (1 - params.stopping_share))]
    fit, stop = train.filter(pl.col(DAY) < first_stop), train.filter(pl.col(DAY) >= first_stop)
    categorical = [n for n in names if n in codes]
    fit_set = lgb.Dataset(
        matrix(fit, names, codes),
        label=fit.get_column(label).to_numpy(),
        feature_name=list(names),
        categorical_feature=categorical,
        free_raw_data=False,
    )
    stop_set = lgb.Dataset(
        matrix(stop, names, codes),
        label=stop.get_column(label).to_numpy(),
        reference=fit_set,
    )
    booster = lgb.train(
        params.lightgbm(),
        fit_set,
        num_boost_round=params.num_boost_round,
        valid_sets=[stop_set],
        valid_names=["stop"],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def precision_at_rates(
    scores: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    rates: Sequence[float] = INSPECTION_RATES,
) -> list[tuple[float, int, float, float]]:
    """(rate, inspected, precision, recall) when the top `rate` of rows are inspected."""
    positives = float(labels.sum())
    out = []
    for rate in rates:
        k = inspected_count(labels.size, rate)
        found = expected_found(scores, labels, k)
        out.append((rate, k, found / k if k else math.nan, found / positives if positives else 0))
    return out


def run_kcs(
    train_path: Path,
    eval_paths: dict[str, Path],
    *,
    careful: bool = False,
    history: History = "frozen",
    params: KcsParams | None = None,
) -> KcsResult:
    """Train on `train_path`, score and measure each evaluated file (name -> path).

    `careful` adds the point-in-time entity rates and price positions to the KCS columns; on
    the synthetic KCS files they lower precision (docs/reproduce-kcs.md), so they are opt-in.
    """
    params = params or KcsParams()
    frames = [read_kcs(train_path), *(read_kcs(p) for p in eval_paths.values())]
    known = [True, *([history == "rolling"] * len(eval_paths))]
    featured = kcs_features(frames, known) if careful else frames
    names = feature_names(careful)
    train = featured[0]
    codes = category_codes(train)
    boosters = {label: train_label(train, names, codes, label, params) for label in LABELS}
    records: list[tuple[str, str, float, int, int, float, float, float]] = []
    scored: dict[str, pl.DataFrame] = {}
    for (name, _), frame in zip(eval_paths.items(), featured[1:], strict=True):
        x = matrix(frame, names, codes)
        columns = {}
        for label, booster in boosters.items():
            scores = np.asarray(booster.predict(x), dtype=np.float64)
            y = frame.get_column(label).cast(pl.Float64).to_numpy()
            columns[SCORE_COLUMNS[label]] = scores
            ap = average_precision(scores, y)
            for rate, k, precision, recall in precision_at_rates(scores, y):
                records.append((name, LABELS[label], rate, frame.height, k, precision, recall, ap))
        scored[name] = pl.DataFrame(
            {"Declaration ID": frame.get_column("declaration_id"), **columns}
        )
    table = pl.DataFrame(
        records,
        schema={
            "file": pl.String,
            "label": pl.String,
            "rate": pl.Float64,
            "rows": pl.Int64,
            "inspected": pl.Int64,
            "precision": pl.Float64,
            "recall": pl.Float64,
            "pr_auc": pl.Float64,
        },
        orient="row",
    )
    best = {label: b.current_iteration() for label, b in boosters.items()}
    return KcsResult(precision=table, scores=scored, feature_names=names, best_iterations=best)
