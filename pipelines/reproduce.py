"""The KCS public benchmark: train on one labelled KCS file, report precision and recall at
inspection rates for `Fraud` and `Critical Fraud == 2`.

Grain: `kcs_features` gives one row per KCS declaration (each KCS row is one goods item of its
own declaration) with point-in-time features; `KcsResult.precision` one row per (file, method,
label, inspection rate); `report_table` one row per (file, method, label). Files arrive in the
KCS layout and go through the shipped mapping (contracts/mappings/kcs.yaml); labels come back
from the mapped outcomes (`kcs_labels`). Training, early stopping and calibration are the
project's own (`models.training.time_split` and `train_category`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
from models.registry import ThreatModels
from models.scoring import feature_matrix, raw_scores
from models.training import (
    SAMPLE,
    WEIGHT,
    TrainingParams,
    Weighting,
    label_column,
    time_split,
    train_category,
)

LABELS: dict[str, str] = {"fraud": "Fraud", "critical_fraud": "Critical Fraud == 2"}
"""Label column -> the name the paper uses."""
SCORE_COLUMNS: dict[str, str] = {"fraud": "score_fraud", "critical_fraud": "score_critical_fraud"}

BASELINE = "plain"
"""A plain LightGBM per label on the KCS columns alone: the approach before issue 12."""
CHOSEN = "value-history"
"""The KCS columns plus the history of repeated values (docs/decisions/0022)."""
METHODS: dict[str, str] = {BASELINE: "plain LightGBM", CHOSEN: "with value history"}

CriticalHead = Literal["given-fraud", "joint"]
"""How the chosen method scores `Critical Fraud == 2`: `given-fraud` (decision 0031) grows the
critical booster on the fraud rows only, and the critical probability is P(fraud) x
P(critical | fraud); `joint` grows it on all rows, like `Fraud` (decision 0022)."""
CRITICAL_HEADS: tuple[CriticalHead, ...] = ("given-fraud", "joint")

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
# Exact values seen before: the KCS files are CTGAN syntheses that redraw the same declared
# values, masses and tax rates, so a value that earlier came with a critical fraud marks the
# rows that repeat it (docs/decisions/0022-kcs-critical-frauds.md).
REPEATS: dict[str, tuple[str, ...]] = {
    "value": ("declared_value",),
    "mass": ("net_mass_kg",),
    "hs6_value": ("hs_code", "declared_value"),
    "hs6_mass": ("hs_code", "net_mass_kg"),
    "tax_value": ("kcs_tax_rate", "declared_value"),
}
SMOOTHING_ROWS = 10.0
"""Prior weight of the smoothed rates: an entity with 10 past rows sits halfway to the base."""
DAY = "_day"
ROLE = "_role"


@dataclass(frozen=True)
class KcsParams(TrainingParams):
    """The project's training (`models.training`) with settings for KCS: a fifth of rows are
    frauds, so trees can be larger than the threat models'; every row was inspected, so all
    weigh 1. The last `validation_share` of the training file stops the boosting and fits the
    calibration (`models.training.time_split`).

    Measured on the valid file before issue 12 (docs/reproduce-kcs.md): at learning rate 0.03
    and 31 leaves the model was still improving at 8,000 trees; 0.1 and 63 leaves stop near
    3,100 and rank best."""

    learning_rate: float = 0.1
    num_leaves: int = 63
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.7
    lambda_l2: float = 5.0
    num_boost_round: int = 10_000
    early_stopping_rounds: int = 300
    validation_share: float = 0.15
    weighting: Weighting = "none"
    max_weight: float | None = None
    min_findings: int = 0
    bagging_fraction: float = 0.8

    def lightgbm(self) -> dict[str, Any]:
        """The project's parameters, stopping on average precision (the ranking is what counts
        here) and with row bagging."""
        return {
            **super().lightgbm(),
            "metric": ["average_precision"],
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
        }


@dataclass
class KcsResult:
    """Precision and recall per file, method, label and rate; the scores of each evaluated file
    by the chosen method; what was used."""

    precision: pl.DataFrame
    scores: dict[str, pl.DataFrame]
    feature_names: dict[str, tuple[str, ...]]
    best_iterations: dict[str, dict[str, int]] = field(default_factory=dict)
    positives: dict[str, dict[str, int]] = field(default_factory=dict)


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
    """Smoothed past fraud and critical-fraud rates of each entity and repeated value, as known
    before each day."""
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
    for name, keys in {**ENTITIES, **REPEATS}.items():
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


def feature_names(careful: bool, repeats: bool = False) -> tuple[str, ...]:
    """The model inputs: the KCS columns, plus the entity rates and price positions when
    `careful`, plus the history of repeated values when `repeats`."""
    plain = (*CATEGORICAL, *NUMERIC)
    groups = [*(ENTITIES if careful else ()), *(REPEATS if repeats else ())]
    rates = [
        f"{name}_{suffix}"
        for name in groups
        for suffix in ("seen", *(f"{lb}_rate" for lb in LABELS))
    ]
    prices = ("hs6_price_z", "hs4_price_z") if careful else ()
    return (*plain, *rates, *prices)


def category_codes(train: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Integer codes of each categorical value seen in training, most frequent first."""
    codes: dict[str, dict[str, int]] = {}
    for name in CATEGORICAL:
        counts = train.get_column(name).drop_nulls().value_counts(sort=True)
        codes[name] = {str(v): i for i, v in enumerate(counts.get_column(name).to_list())}
    return codes


def labelled_rows(
    frame: pl.DataFrame, names: Sequence[str], codes: dict[str, dict[str, int]]
) -> pl.DataFrame:
    """KCS rows in the shape `models.training` takes: numeric inputs, `label_*` columns, a
    filing time, weight 1 and the `policy` sample (every KCS row was inspected).

    Categories become their training-frequency codes (unseen ones missing): `models.training`
    builds its datasets from numeric matrices. Infinite or undefined inputs (a price per kg of a
    zero mass) are missing too."""
    inputs = [
        pl.col(n).replace_strict(codes[n], default=None, return_dtype=pl.Float64)
        if n in codes
        else pl.col(n).cast(pl.Float64)
        for n in names
    ]
    return frame.select(
        pl.col(DAY).cast(pl.Datetime("us")).alias("filed_at"),
        *(pl.col(lb).alias(label_column(lb)) for lb in LABELS),
        *inputs,
    ).with_columns(
        *(pl.when(pl.col(n).is_finite()).then(pl.col(n)).alias(n) for n in names),
        pl.lit(1.0).alias(WEIGHT),
        pl.lit("policy").alias(SAMPLE),
    )


@dataclass(frozen=True)
class KcsModels:
    """One calibrated booster per label and how the critical one is read: with
    `critical_given_fraud` its probability is conditional on a fraud (it learnt from fraud
    rows only) and is multiplied by P(fraud)."""

    models: ThreatModels
    critical_given_fraud: bool = False


def probabilities(trained: KcsModels, rows: pl.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
    """Calibrated probability per label for rows from `labelled_rows`."""
    models = trained.models
    raw = raw_scores(models, feature_matrix(rows, models.feature_names))
    out = {lb: models.categories[lb].calibrator.apply(r) for lb, r in raw.items()}
    if trained.critical_given_fraud:
        out["critical_fraud"] = out["fraud"] * out["critical_fraud"]
    return out


def train_labels(
    rows: pl.DataFrame,
    names: Sequence[str],
    params: KcsParams,
    critical_head: CriticalHead = "joint",
) -> KcsModels:
    """One calibrated booster per label, by the project's training: `time_split` keeps the
    latest `validation_share` of the file (and of each label's positives) to stop the boosting
    and fit the Platt calibration; `train_category` does the rest. With `critical_head`
    `given-fraud` the critical booster sees only the fraud rows of both slices, so its
    calibrated output is P(critical | fraud) (decision 0031).

    Not `train_threat_models`: KCS has no champion to gate, so no date is held back for a gate
    window, and each label keeps its own trees (decision 0022)."""
    fit, stop = time_split(rows, params.validation_share, tuple(LABELS))
    given_fraud = critical_head == "given-fraud"
    models = {}
    for lb in LABELS:
        if lb == "critical_fraud" and given_fraud:
            # Every critical fraud is a fraud: the head learns what sets the critical ones
            # apart from the other frauds, not fraud again (a fifth of the rows).
            frauds = pl.col(label_column("fraud")) == 1
            models[lb] = train_category(
                fit.filter(frauds), stop.filter(frauds), tuple(names), lb, params
            )[0]
        else:
            models[lb] = train_category(fit, stop, tuple(names), lb, params)[0]
    return KcsModels(
        ThreatModels(feature_names=tuple(names), phrases={}, categories=models),
        critical_given_fraud=given_fraud,
    )


def precision_at_rates(
    scores: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    rates: Sequence[float] = INSPECTION_RATES,
) -> list[tuple[float, int, float, float]]:
    """(rate, inspected, precision, recall) when the top `rate` of rows are inspected.

    Recall is the share of all positives found among them: for `critical_fraud` (KCS
    `Critical Fraud == 2`) it is the critical recall the benchmark target is set on."""
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
    baseline: bool = True,
    critical_head: CriticalHead = "given-fraud",
) -> KcsResult:
    """Train on `train_path`, score and measure each evaluated file (name -> path).

    The chosen method (`value-history`) adds the history of repeated values (`REPEATS`) to the
    KCS columns; `careful` also adds the entity rates and price positions, which lower precision
    on the synthetic KCS files (docs/reproduce-kcs.md). `critical_head` says how the chosen
    method scores `Critical Fraud == 2` (`CriticalHead`). `baseline` also trains the plain
    LightGBM on the KCS columns alone (both labels on all rows), measured beside it.
    """
    params = params or KcsParams()
    frames = [read_kcs(train_path), *(read_kcs(p) for p in eval_paths.values())]
    known = [True, *([history == "rolling"] * len(eval_paths))]
    featured = kcs_features(frames, known)
    codes = category_codes(frames[0])
    methods = {CHOSEN: feature_names(careful, repeats=True)}
    if baseline:
        methods = {BASELINE: feature_names(False), **methods}
    records: list[tuple[str, str, str, float, int, int, float, float, float]] = []
    scored: dict[str, pl.DataFrame] = {}
    best: dict[str, dict[str, int]] = {}
    for method, names in methods.items():
        rows = [labelled_rows(f, names, codes) for f in featured]
        head: CriticalHead = critical_head if method == CHOSEN else "joint"
        models = train_labels(rows[0], names, params, head)
        best[method] = {
            lb: m.booster.current_iteration() for lb, m in models.models.categories.items()
        }
        for name, evaluated in zip(eval_paths, rows[1:], strict=True):
            scores = probabilities(models, evaluated)
            for label, s in scores.items():
                y = evaluated.get_column(label_column(label)).cast(pl.Float64).to_numpy()
                ap = average_precision(s, y)
                for rate, k, precision, recall in precision_at_rates(s, y):
                    records.append(
                        (name, method, LABELS[label], rate, y.size, k, precision, recall, ap)
                    )
            if method == CHOSEN:
                ids = featured[1 + list(eval_paths).index(name)].get_column("declaration_id")
                scored[name] = pl.DataFrame(
                    {"Declaration ID": ids, **{SCORE_COLUMNS[lb]: scores[lb] for lb in LABELS}}
                )
    table = pl.DataFrame(
        records,
        schema={
            "file": pl.String,
            "method": pl.String,
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
    positives = {
        name: {LABELS[lb]: int(f.get_column(lb).sum()) for lb in LABELS}
        for name, f in zip(eval_paths, frames[1:], strict=True)
    }
    return KcsResult(
        precision=table,
        scores=scored,
        feature_names=methods,
        best_iterations=best,
        positives=positives,
    )


PAPER_FILE = "paper (test quarter)"
PAPER_METHOD = "paper LightGBM"
PAPER: dict[tuple[str, float], float] = {("Fraud", 0.05): 0.762, ("Fraud", 0.10): 0.641}
"""Precision of the paper's LightGBM on the test quarter 2021-04..06 (Jeong et al., arXiv
2208.02484), the figures docs/reproduce-kcs.md quotes; the other cells stay blank."""


def report_table(result: KcsResult) -> pl.DataFrame:
    """One row per (file, method, label): precision and recall at each rate, and PR-AUC; the
    paper's figures first. Rates run as in `INSPECTION_RATES`."""
    rates = sorted(result.precision.get_column("rate").unique().to_list()) or list(INSPECTION_RATES)
    rows: list[dict[str, Any]] = []
    for label in dict.fromkeys((lb for lb, _ in PAPER)):
        rows.append(
            {
                "file": PAPER_FILE,
                "method": PAPER_METHOD,
                "label": label,
                "rows": None,
                "positives": None,
                **{f"P@{r:.0%}": PAPER.get((label, r)) for r in rates},
                **{f"R@{r:.0%}": None for r in rates},
                "PR-AUC": None,
            }
        )
    # Each label's methods side by side, files in the order given.
    files = list(dict.fromkeys(result.precision.get_column("file").to_list()))
    ordered = result.precision.with_columns(
        pl.col("file").replace_strict(files, list(range(len(files)))).alias("_file"),
        pl.col("label")
        .replace_strict(list(LABELS.values()), list(range(len(LABELS))))
        .alias("_label"),
    ).sort("_file", "_label", maintain_order=True)
    for (file, method, label), part in ordered.group_by(
        "file", "method", "label", maintain_order=True
    ):
        by_rate = {r["rate"]: r for r in part.iter_rows(named=True)}
        rows.append(
            {
                "file": file,
                "method": method,
                "label": label,
                "rows": part["rows"][0],
                "positives": result.positives.get(str(file), {}).get(str(label)),
                **{f"P@{r:.0%}": by_rate[r]["precision"] for r in rates},
                **{f"R@{r:.0%}": by_rate[r]["recall"] for r in rates},
                "PR-AUC": part["pr_auc"][0],
            }
        )
    schema: dict[str, Any] = {
        "file": pl.String,
        "method": pl.String,
        "label": pl.String,
        "rows": pl.Int64,
        "positives": pl.Int64,
        **{f"P@{r:.0%}": pl.Float64 for r in rates},
        **{f"R@{r:.0%}": pl.Float64 for r in rates},
        "PR-AUC": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
