"""Model lifecycle stage: evaluate versions side by side, gate promotions, roll back, log it all.

Grain: `evaluation.json` in a version folder is one evaluation of that version (and of the
champion it was compared with) on the version's own validation window; `models/decisions.jsonl`
holds one line per decision (promote, refuse, rollback), appended and never rewritten.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from models.evaluation import (
    INSPECTION_RATES,
    paired_precision_difference,
    reliability,
    version_metrics,
)
from models.registry import (
    CARD_FILE,
    CHAMPION_FILE,
    DECISIONS_FILE,
    EVALUATION_FILE,
    ThreatModels,
    champion_text,
    gate,
    load_version,
    read_champion,
    read_decisions,
    read_metadata,
    version_folders,
)
from models.scoring import feature_matrix, raw_scores
from models.training import SAMPLE, WEIGHT, label_column, label_inspected
from pipelines import layout
from pipelines.io import write_text
from pipelines.progress import QUIET, Steps
from pipelines.settings import Settings
from pipelines.train import append_decision, read_inspected_features, read_outcomes

log = logging.getLogger(__name__)

BOOTSTRAP_RESAMPLES = 300
CURVE_POINTS = 50


def models_root(settings: Settings) -> Path:
    """The folder holding the version folders, champion.json and decisions.jsonl."""
    return settings.zone("models")


def current_champion(settings: Settings) -> str | None:
    """The champion's version, or None before the first model."""
    root = models_root(settings)
    return read_champion(root) if (root / CHAMPION_FILE).exists() else None


def list_versions(settings: Settings) -> list[dict[str, Any]]:
    """One summary per saved version, oldest first."""
    champion = current_champion(settings)
    out = []
    for folder in version_folders(models_root(settings)):
        meta = read_metadata(folder)
        evaluation = _read_evaluation(folder)
        own = (evaluation or {}).get("versions", {}).get(folder.name, {})
        out.append(
            {
                "version": folder.name,
                "champion": folder.name == champion,
                "created_at": meta.get("created_at"),
                "trained_until": meta.get("trained_until"),
                "registry_hash": meta.get("registry_hash"),
                "precision_at_budget": {
                    category: _precision_at(metrics, settings.model_gate_budget)
                    for category, metrics in own.get("categories", {}).items()
                },
                "has_card": (folder / CARD_FILE).is_file(),
            }
        )
    return out


def _precision_at(metrics: dict[str, Any], rate: float) -> float | None:
    for row in metrics.get("at_rates", []):
        if abs(row["rate"] - rate) < 1e-9:
            value = row.get("precision")
            return None if value is None else float(value)
    return None


def _read_evaluation(folder: Path) -> dict[str, Any] | None:
    path = folder / EVALUATION_FILE
    if not path.is_file():
        return None
    values: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return values


def gate_window(meta: dict[str, Any]) -> tuple[date, date, str | None]:
    """First and last filing date the gate measures a version on, and a note when that window
    is not one the version's training left unseen.

    Versions since decision 0019 name a gate window after their calibration window. Older
    versions, and versions with too few findings for three windows, are measured on their
    calibration window, as before; the note says so.
    """
    until = date.fromisoformat(meta["trained_until"])
    gate = (meta.get("windows") or {}).get("gate") or {}
    if gate.get("first") and not meta.get("gate_shared_with_calibration", False):
        return date.fromisoformat(gate["first"]), until, None
    since = date.fromisoformat(meta["validation_from"])
    if "windows" not in meta:
        return (
            since,
            until,
            (
                "gate measured on the calibration window: this version predates separate gate "
                "windows, so its calibration was fitted on the rows it is judged on"
            ),
        )
    return (
        since,
        until,
        (
            "gate measured on the calibration window: too few findings for a separate gate "
            "window when this version was trained, so its calibration was fitted on these rows"
        ),
    )


def evaluation_set(
    settings: Settings, version: str, extra_features: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Inspected rows of the version's gate window, labelled per category.

    The champion scores the same rows. When it was trained on them too, the comparison
    favours the champion: the gate errs towards keeping it.
    """
    meta = read_metadata(models_root(settings) / version)
    since, until, _ = gate_window(meta)
    names = tuple(dict.fromkeys((*meta["feature_names"], *extra_features)))
    outcomes = read_outcomes(settings, until)
    rows, sizes = read_inspected_features(settings, until, outcomes, names)
    labelled = label_inspected(rows, outcomes, sizes=sizes, categories=meta["categories"])
    return labelled.filter(pl.col("filed_at").dt.date() >= since)


def probabilities(models: ThreatModels, frame: pl.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
    """Calibrated probability per category for each row of `frame`."""
    matrix = feature_matrix(frame, models.feature_names)
    return {
        name: models.categories[name].calibrator.apply(raw)
        for name, raw in raw_scores(models, matrix).items()
    }


def _curves(p: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> dict[str, Any]:
    """PR curve and precision/recall at k, thinned to CURVE_POINTS, plus reliability bins."""
    order = np.argsort(-p, kind="stable")
    hits = np.cumsum(y[order])
    k = np.arange(1, y.size + 1)
    positives = max(float(y.sum()), 1.0)
    # Geometric steps: the budgets that matter (1-10 %) are the curve's first tenth.
    picks = np.unique(np.geomspace(1, max(y.size, 1), CURVE_POINTS).astype(int) - 1)
    return {
        "share_inspected": (k[picks] / y.size).tolist(),
        "precision": (hits[picks] / k[picks]).tolist(),
        "recall": (hits[picks] / positives).tolist(),
        "reliability": reliability(p, y, bins=10).to_dicts(),
    }


def origin_regions(settings: Settings, frame: pl.DataFrame) -> npt.NDArray[np.str_] | None:
    """UN region of each row's country of origin, from staged declarations; None without them."""
    from contracts.reference import countries

    days = sorted(frame.get_column("filed_at").dt.date().unique())
    paths = [p for d in days if (p := layout.staged_declarations_file(settings, d)).is_file()]
    if not paths:
        return None
    origins = (
        pl.scan_parquet(paths)
        .select(
            pl.col("declaration_id").cast(pl.String),
            pl.col("item_no").cast(pl.Int64),
            pl.col("country_of_origin").cast(pl.String),
        )
        .unique(["declaration_id", "item_no"], keep="last")
        .collect()
    )
    regions = countries().select(
        pl.col("alpha2").alias("country_of_origin"), pl.col("region").alias("_region")
    )
    joined = frame.select(
        pl.col("declaration_id").cast(pl.String), pl.col("item_no").cast(pl.Int64)
    ).join(
        origins.join(regions, on="country_of_origin", how="left"),
        on=["declaration_id", "item_no"],
        how="left",
        maintain_order="left",
    )
    return joined.get_column("_region").fill_null("unknown").to_numpy().astype(str)


def _per_group(
    p: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    groups: npt.NDArray[np.str_],
    budget: float,
) -> dict[str, Any]:
    return {
        str(g): version_metrics(p[groups == g], y[groups == g], (budget,), resamples=0)
        for g in sorted(set(groups.tolist()))
    }


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def evaluate_version(
    settings: Settings, version: str, champion: str | None, evaluated_at: datetime
) -> dict[str, Any]:
    """Metrics of `version` (and of `champion`, on the same rows), saved in the version folder."""
    root = models_root(settings)
    # Each version is judged by trees that never saw its own gate window (decision 0044).
    challenger_models = load_version(root / version).for_gate()
    compared = {version: challenger_models}
    if champion is not None and champion != version:
        compared[champion] = load_version(root / champion).for_gate()
    extra = tuple(n for m in compared.values() for n in m.feature_names)
    frame = evaluation_set(settings, version, extra)
    ports = frame.get_column("port_of_discharge").cast(pl.String).fill_null("?").to_numpy()
    # Capped as when the calibration was fitted (TrainingParams.max_weight).
    cap = read_metadata(root / version).get("params", {}).get("max_weight")
    weights = frame.get_column(WEIGHT).cast(pl.Float64).to_numpy()
    regions = origin_regions(settings, frame)
    weights = np.minimum(weights, cap) if cap else weights
    random_rows = (frame.get_column(SAMPLE) == "random").to_numpy()
    since, until, window_note = gate_window(read_metadata(root / version))
    result: dict[str, Any] = {
        "evaluated_at": evaluated_at.isoformat(),
        "rows": frame.height,
        "window_from": since.isoformat(),
        "window_until": until.isoformat(),
        "window_note": window_note,
        "budget": settings.model_gate_budget,
        "versions": {},
    }
    scored: dict[str, dict[str, npt.NDArray[np.float64]]] = {}
    for name, models in compared.items():
        per_category: dict[str, Any] = {}
        for category, p in probabilities(models, frame).items():
            scored.setdefault(category, {})[name] = p
            if label_column(category) not in frame.columns:
                continue
            y = frame.get_column(label_column(category)).cast(pl.Float64).to_numpy()
            metrics = version_metrics(
                p,
                y,
                INSPECTION_RATES,
                weights=weights,
                resamples=BOOTSTRAP_RESAMPLES,
                seed=settings.seed,
            )
            # The random sample alone is unbiased but small: shown beside, not gated on.
            metrics["random_sample"] = version_metrics(
                p[random_rows], y[random_rows], (settings.model_gate_budget,), resamples=0
            )
            metrics["curves"] = _curves(p, y)
            metrics["per_port"] = _per_group(p, y, ports, settings.model_gate_budget)
            if regions is not None:
                metrics["per_origin_region"] = _per_group(p, y, regions, settings.model_gate_budget)
            per_category[category] = metrics
        importance = {
            category: dict(
                zip(
                    models.feature_names,
                    (float(v) for v in m.booster.feature_importance(importance_type="gain")),
                    strict=True,
                )
            )
            for category, m in models.categories.items()
        }
        result["versions"][name] = {"categories": per_category, "importance": importance}
    if champion is not None and champion != version:
        result["paired"] = {
            category: {
                key: _finite_or_none(value)
                for key, value in paired_precision_difference(
                    both[version],
                    both[champion],
                    frame.get_column(label_column(category)).cast(pl.Float64).to_numpy(),
                    settings.model_gate_budget,
                    resamples=BOOTSTRAP_RESAMPLES,
                    seed=settings.seed,
                ).items()
            }
            for category, both in scored.items()
            if version in both and champion in both and label_column(category) in frame.columns
        }
    write_text(
        json.dumps(result, indent=2, sort_keys=True) + "\n", root / version / EVALUATION_FILE
    )
    return result


def promote(
    settings: Settings, version: str, decided_at: datetime, *, force: bool = False
) -> dict[str, Any]:
    """Gate `version` against the champion; promote it when it passes (or when forced).

    Returns the logged decision. The first model of a home is promoted without comparison.
    """
    root = models_root(settings)
    if not (root / version).is_dir():
        raise FileNotFoundError(f"{root / version}: no such model version")
    champion = current_champion(settings)
    if champion == version:
        return dict(
            append_decision(
                settings,
                {
                    "at": decided_at.isoformat(),
                    "action": "none",
                    "version": version,
                    "previous": champion,
                    "promoted": False,
                    "reasons": ["already the champion"],
                },
            )
        )
    evaluation = evaluate_version(settings, version, champion, decided_at)
    mine = evaluation["versions"][version]["categories"]
    theirs = evaluation["versions"][champion]["categories"] if champion else None
    verdict = gate(mine, theirs, settings.model_gate_budget, paired=evaluation.get("paired"))
    promoted = verdict.promote or force
    if promoted:
        write_text(champion_text(version), root / CHAMPION_FILE)
    reasons = [*_window_reasons(evaluation), *verdict.reasons]
    reasons += ["forced by hand"] if force and not verdict.promote else []
    log.info("promotion of %s: %s", version, "done" if promoted else "refused")
    return dict(
        append_decision(
            settings,
            {
                "at": decided_at.isoformat(),
                "action": "promote" if promoted else "refuse",
                "version": version,
                "previous": champion,
                "promoted": promoted,
                "gate_passed": verdict.promote,
                "forced": force,
                "budget": settings.model_gate_budget,
                "reasons": reasons,
            },
        )
    )


def _window_reasons(evaluation: dict[str, Any]) -> list[str]:
    """The gate window's dates, and why it is not an unseen one when it is not."""
    line = f"measured on {evaluation['window_from']} to {evaluation['window_until']}"
    note = evaluation.get("window_note")
    return [line + (f" ({note})" if note else " (a window unseen by training and calibration)")]


def rollback(settings: Settings, decided_at: datetime) -> dict[str, Any]:
    """Make the champion's predecessor champion again, from the decisions log."""
    champion = current_champion(settings)
    if champion is None:
        raise FileNotFoundError(f"{models_root(settings)}: no champion to roll back")
    previous = None
    for record in reversed(read_decisions(models_root(settings))):
        # Only promotions name a predecessor: rolling back twice goes two steps back.
        if record.get("version") == champion and record.get("action") == "promote":
            previous = record.get("previous")
            break
    if not previous:
        raise ValueError(f"no earlier champion of {champion} is logged in {DECISIONS_FILE}")
    if not (models_root(settings) / previous).is_dir():
        raise FileNotFoundError(f"{models_root(settings) / previous}: earlier champion is gone")
    write_text(champion_text(previous), models_root(settings) / CHAMPION_FILE)
    return dict(
        append_decision(
            settings,
            {
                "at": decided_at.isoformat(),
                "action": "rollback",
                "version": previous,
                "previous": champion,
                "promoted": True,
                "reasons": [f"rolled back from {champion}"],
            },
        )
    )


def write_card(settings: Settings, version: str) -> Path:
    """Write `card.html` into the version folder from its metadata and evaluation."""
    from models.card import render_card
    from pipelines.disparity import with_model_report_link

    folder = models_root(settings) / version
    evaluation = _read_evaluation(folder)
    if evaluation is None:
        raise FileNotFoundError(
            f"{folder / EVALUATION_FILE}: not evaluated yet; run `cargo-risk models card`"
        )
    others = [name for name in evaluation["versions"] if name != version]
    champion = evaluation["versions"][others[0]]["categories"] if others else None
    verdict = gate(
        evaluation["versions"][version]["categories"],
        champion,
        float(evaluation["budget"]),
        paired=evaluation.get("paired"),
    )
    against = f"against {others[0]}" if others else "without a champion to compare with"
    lines = [
        f"gate {'passes' if verdict.promote else 'refuses'} {against}",
        *_window_reasons(evaluation),
        *verdict.reasons,
    ]
    card = render_card(read_metadata(folder), evaluation, lines)
    return write_text(with_model_report_link(settings, version, card), folder / CARD_FILE)


def latest_featurized_day(settings: Settings) -> date:
    """The last filing date with features: what a retrain without a date learns up to."""
    days = layout.partition_days(layout.features_table(settings))
    if not days:
        raise FileNotFoundError(f"{settings.zone('features')}: no features to train on")
    return days[-1]


def train_challenger(
    settings: Settings, until: date, created_at: datetime, steps: Steps = QUIET
) -> str:
    """Train a version on everything up to `until` without promoting it; return its id.

    With no champion yet there is nothing to gate against and it becomes the first champion.
    """
    from pipelines.train import train_models

    first = current_champion(settings) is None
    return train_models(settings, until, created_at, promote=first, steps=steps).name


DRIFT_SAMPLE_ROWS = 200_000
"""Rows a night's PSI is computed from at most. A bin's share from 200,000 rows drawn at random
is off by under 0.002 (two standard errors at a share of 0.5): far below the PSI of 0.1 at which
a shift starts to count, and drift's cost stops growing with the night's volume."""


def _drift_sample(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """At most DRIFT_SAMPLE_ROWS rows, the same ones on every rerun of the night."""
    if frame.height <= DRIFT_SAMPLE_ROWS:
        return frame
    return frame.sample(n=DRIFT_SAMPLE_ROWS, seed=seed)


def _drift_sample_of(scan: pl.LazyFrame, rows: int, seed: int) -> pl.DataFrame:
    """`_drift_sample` of a file of `rows` rows, reading only the sampled rows: the sample
    draws row positions alone, so it picks the same rows from a frame of positions."""
    if rows <= DRIFT_SAMPLE_ROWS:
        return scan.collect()
    positions = pl.DataFrame({"_at": pl.int_range(rows, eager=True, dtype=pl.UInt32)})
    picked = _drift_sample(positions, seed)
    found = scan.with_row_index("_at").filter(pl.col("_at").is_in(picked["_at"].implode()))
    return picked.lazy().join(found, on="_at", maintain_order="left").drop("_at").collect()


def drift_report(settings: Settings, day: date) -> dict[str, Any]:
    """PSI of each model input and score of one night against the scoring model's training.

    The profile is the one of the version that scored the night (its `model_version`), so a
    promotion between nights compares each night with its own model's training.
    """
    from models.drift import compare

    scores_file = layout.scores_file(settings, day)
    features_file = layout.features_file(settings, day)
    for path in (scores_file, features_file):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not there, so no drift for {day}")
    scores = pl.scan_parquet(scores_file)
    versions = (
        scores.select(pl.col("model_version").drop_nulls().unique()).collect().to_series().to_list()
    )
    version = versions[0] if len(versions) == 1 else current_champion(settings)
    if version is None:
        raise FileNotFoundError(f"{models_root(settings)}: no model, so no drift")
    reference = read_metadata(models_root(settings) / version).get("drift_profile")
    if not reference:
        raise FileNotFoundError(f"model {version} has no drift profile (trained before drift)")
    # Only the profiled columns: a night's features frame is mostly columns drift does not read.
    present = pl.read_parquet_schema(features_file)
    night = pl.scan_parquet(features_file).select(c for c in reference if c in present)
    rows = night.select(pl.len()).collect().item()
    values = {
        **compare(reference, _drift_sample_of(night, rows, settings.seed)),
        **compare(
            reference,
            _drift_sample_of(scores, scores.select(pl.len()).collect().item(), settings.seed),
        ),
    }
    ranked = dict(sorted(values.items(), key=lambda item: -item[1]))
    warnings = [
        f"{column}: PSI {value:.2f} above {settings.drift_psi_threshold}"
        for column, value in ranked.items()
        if value > settings.drift_psi_threshold
    ]
    return {
        "version": version,
        "threshold": settings.drift_psi_threshold,
        "rows": rows,
        "psi_rows": min(rows, DRIFT_SAMPLE_ROWS),
        "psi": {k: round(v, 4) for k, v in ranked.items()},
        "warnings": warnings,
    }
