"""Train stage: features and outcomes up to a date -> one new model version, made champion.

Grain of what it writes: `models/<version>/` is one model version (cbrn.txt, salw.txt,
calibration.json, metadata.json), written whole; `models/champion.json` names the version that
scoring uses. Only inspected rows are loaded; every row is counted for the sampling rates.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from contracts.outcomes import OUTCOMES
from models.registry import (
    CHAMPION_FILE,
    DECISIONS_FILE,
    ThreatModels,
    champion_text,
    decision_line,
    model_texts,
    read_champion,
    version_files,
    version_id,
    with_compiled_trees,
)
from models.training import (
    KEY,
    WEIGHT,
    TrainingParams,
    label_inspected,
    stratum_sizes,
    train_threat_models,
)
from pipelines import audit_trail, layout
from pipelines.io import atomic_directory, write_text
from pipelines.progress import QUIET, Steps
from pipelines.score import compiled_trees_folder
from pipelines.settings import Settings

log = logging.getLogger(__name__)

TRAINING_STEPS = (
    "reading outcomes",
    "reading the inspected items' features",
    "training the threat models",
    "profiling inputs for drift",
    "saving the version",
    "compiling the trees",
    "writing the model card",
)
"""The phases `train_models` reports, in order; training the models is most of the time."""

KEY_COLUMNS = ("declaration_id", "item_no", "port_of_discharge", "filed_at")


def read_outcomes(settings: Settings, until: date) -> pl.DataFrame:
    """Every inspection recorded up to `until`, in the outcomes contract's types."""
    paths = layout.files_until(layout.staged_outcomes(settings), layout.OUTCOMES_FILE, until)
    if not paths:
        raise FileNotFoundError(
            f"{layout.staged_outcomes(settings)}: no outcomes partitions up to {until}"
        )
    frames = []
    for path in paths:
        frame = pl.read_parquet(path)
        missing = [c for c in OUTCOMES.required if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing outcome column(s) {', '.join(missing)}")
        frames.append(
            frame.select(
                (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
                for c, t in OUTCOMES.polars_schema.items()
            )
        )
    return pl.concat(frames)


def _refuse_older_features(
    settings: Settings, paths: Sequence[Path], needed: Sequence[str]
) -> None:
    """One line naming what the features lack and, for older partitions, the command to rebuild.

    A release that adds a feature leaves the partitions featurized before it without the column;
    Polars would stop on the first such file with its own message.
    """
    lacking_by_day: dict[date, list[str]] = {}
    for path in paths:
        present = set(pl.read_parquet_schema(path))
        lacking = [c for c in needed if c not in present]
        day = layout.partition_date(path.parent.name)
        if lacking and day is not None:
            lacking_by_day[day] = lacking
    if not lacking_by_day:
        return
    from features.registry import FEATURES

    missing = sorted({c for lacking in lacking_by_day.values() for c in lacking})
    zone = settings.zone("features")
    # A column the registry does not define cannot be rebuilt by featurizing again.
    if not set(missing) <= {feature.name for feature in FEATURES}:
        raise ValueError(f"{zone}: features lack column(s) {', '.join(missing)}")
    first, last = min(lacking_by_day), max(lacking_by_day)
    raise ValueError(
        f"{zone}: features of {len(lacking_by_day)} date(s) from {first} to {last} lack "
        f"{', '.join(missing)} (featurized by an older release): run `cargo-risk featurize run "
        f"--from {first} --to {last}`, then train again"
    )


def read_inspected_features(
    settings: Settings, until: date, outcomes: pl.DataFrame, feature_names: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Feature rows of inspected declarations, and row counts per filing date and port."""
    paths = layout.files_until(layout.features_table(settings), layout.FEATURES_FILE, until)
    if not paths:
        raise FileNotFoundError(
            f"{settings.zone('features')}: no features partitions up to {until}"
        )
    _refuse_older_features(settings, paths, (*KEY_COLUMNS, *feature_names))
    scan = pl.scan_parquet(paths)
    sizes = stratum_sizes(
        scan.select(pl.col("filed_at").dt.date().alias("_filed_date"), pl.col("port_of_discharge"))
    )
    inspected = outcomes.select("declaration_id").unique().lazy()
    rows = (
        scan.select(*KEY_COLUMNS, *feature_names)
        .join(inspected, on="declaration_id", how="semi")
        .collect()
    )
    return rows, sizes


def save_version(
    settings: Settings,
    models: ThreatModels,
    metadata: Mapping[str, Any],
    created_at: datetime,
    promote: bool = True,
) -> Path:
    """Write a version folder whole, then (if `promote`) point champion.json at it."""
    version = version_id(created_at, model_texts(models))
    models = replace(models, version=version)
    root = settings.zone("models")
    target = root / version
    with atomic_directory(target) as tmp:
        for name, text in version_files(models, metadata).items():
            (tmp / name).write_text(text, encoding="utf-8")
    if promote:
        previous = read_champion(root) if (root / CHAMPION_FILE).exists() else None
        write_text(champion_text(version), root / CHAMPION_FILE)
        append_decision(
            settings,
            {
                "at": created_at.isoformat(),
                "action": "promote",
                "version": version,
                "previous": previous,
                "promoted": True,
                "gate_passed": None,
                "forced": False,
                "reasons": ["promoted by training, without the gate"],
            },
        )
    return target


def append_decision(settings: Settings, record: Mapping[str, Any]) -> Mapping[str, Any]:
    """Add one line to models/decisions.jsonl, rewritten whole and atomically: never half a line."""
    path = settings.zone("models") / DECISIONS_FILE
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    record = {"user": audit_trail.current_actor()[0], **record}  # who decided, as in the audit
    write_text(existing + decision_line(record), path)
    audit_trail.record_action(settings, f"model_{record['action']}", record["version"], record)
    return record


def training_fingerprint(labelled: pl.DataFrame) -> str:
    """SHA-256 of the labelled rows' keys, labels and weights, in key order: same data, same
    fingerprint, whatever order the partitions were read in."""
    wanted = [c for c in labelled.columns if c in (*KEY, WEIGHT) or c.startswith("label_")]
    table = labelled.select(sorted(wanted)).sort(list(KEY))
    return hashlib.sha256(table.write_csv().encode()).hexdigest()


PROFILE_ROWS = 50_000
"""Rows of the training traffic the drift profile is drawn from (every n-th row)."""


def drift_profile(
    settings: Settings, until: date, models: ThreatModels, traffic: int
) -> dict[str, Any]:
    """Decile profile of each input and score over the training traffic, for nightly PSI.

    All rows, not only inspected ones: a night is compared with the traffic the model was
    trained in, whatever the old policy picked.
    """
    from models.drift import profile
    from models.scoring import feature_matrix, raw_scores

    paths = layout.files_until(layout.features_table(settings), layout.FEATURES_FILE, until)
    step = max(1, traffic // PROFILE_ROWS)
    rows = pl.scan_parquet(paths).select(models.feature_names).gather_every(step).collect()
    calibrated = {
        f"{name}_score": models.categories[name].calibrator.apply(raw)
        for name, raw in raw_scores(models, feature_matrix(rows, models.feature_names)).items()
    }
    risk = 1.0 - np.prod([1.0 - p for p in calibrated.values()], axis=0)
    scored = rows.with_columns(
        *(pl.Series(name, values) for name, values in calibrated.items()),
        pl.Series("risk_score", risk),
    )
    return profile(scored, [*models.feature_names, *calibrated, "risk_score"])


def code_version() -> str:
    """The installed cargo-risk version (the package's, as built from pyproject.toml)."""
    try:
        return importlib.metadata.version("cargo-risk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def train_models(
    settings: Settings,
    until: date,
    created_at: datetime,
    params: TrainingParams | None = None,
    *,
    feature_names: Sequence[str] | None = None,
    phrases: Mapping[str, str] | None = None,
    promote: bool = True,
    steps: Steps = QUIET,
) -> Path:
    """Train both threat models on everything filed and inspected up to `until`.

    Feature names and phrases default to the feature registry; passing them trains on another
    set of columns (then no registry hash is recorded). With `promote` off the version is a
    challenger, left for `pipelines.lifecycle.promote` to gate. Returns the new version's folder.
    `steps` hears of each phase.
    """
    steps.phase("training", len(TRAINING_STEPS))
    registry_hash: str | None = None
    if feature_names is None:
        from features import registry

        feature_names = registry.model_feature_names()
        phrases = {f.name: f.phrase for f in registry.FEATURES}
        registry_hash = registry.registry_hash()
    params = params or TrainingParams(seed=settings.seed)
    steps.step(TRAINING_STEPS[0])
    outcomes = read_outcomes(settings, until)
    steps.step(TRAINING_STEPS[1])
    rows, sizes = read_inspected_features(settings, until, outcomes, feature_names)
    labelled = label_inspected(rows, outcomes, params.weighting, sizes=sizes)
    unmatched = outcomes.join(rows, on="declaration_id", how="anti").height
    log.info(
        "training on %d inspected rows; %d of %d outcomes match no features row",
        labelled.height,
        unmatched,
        outcomes.height,
    )
    steps.step(TRAINING_STEPS[2])
    models, metadata = train_threat_models(labelled, feature_names, phrases or {}, params)
    traffic = int(sizes["_rows"].sum())
    windows = metadata["windows"]
    log.info(
        "windows: train %s..%s, calibration %s..%s, gate %s..%s%s",
        windows["train"]["first"],
        windows["train"]["last"],
        windows["calibration"]["first"],
        windows["calibration"]["last"],
        windows["gate"]["first"],
        windows["gate"]["last"],
        " (shared with calibration)" if metadata["gate_shared_with_calibration"] else "",
    )
    if metadata["final_trees_on_gate"]:
        log.info("scoring trees grown again on all three windows; the gate judges the others")
    for warning in metadata["warnings"]:
        log.warning("%s", warning)
    steps.step(TRAINING_STEPS[3])
    profile = drift_profile(settings, until, models, traffic)
    metadata = {
        **metadata,
        "created_at": created_at.isoformat(),
        "trained_until": until.isoformat(),
        "registry_hash": registry_hash,
        "training_fingerprint": training_fingerprint(labelled),
        "code_version": code_version(),
        "drift_profile": profile,
        "rows": {
            **metadata["rows"],
            "traffic": traffic,
            "outcomes": outcomes.height,
            "outcomes_without_features": unmatched,
        },
    }
    steps.step(TRAINING_STEPS[4])
    folder = save_version(settings, models, metadata, created_at, promote=promote)
    # Compiled now (5-20 s), the first night scores with the cached library instead.
    steps.step(TRAINING_STEPS[5])
    with_compiled_trees(models, compiled_trees_folder(settings))
    from pipelines.model_card import card_after_training  # the card needs lifecycle's gate

    steps.step(TRAINING_STEPS[6])
    card_after_training(settings, folder.name, created_at)
    return folder
