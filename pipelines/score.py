"""Score stage: one day's features partition -> that day's model scores.

Grain of what it writes: `scores/date=D/scores.parquet` holds one row per declaration item filed
on D: key columns, a `<name>_score` per threat category (contracts/threats.py), `risk_score`
(calibrated, 0-1), `reasons` (the model's top factors, "; "-separated) and `model_version`. The
file is replaced atomically; the rule and watch-list hits beside it in the partition are left alone.

The trees are scored by compiled C (models/compiled.py) built once into `models/_compiled/`,
shared by all versions: a library is named by a digest of its trees' code and the machine, so
identical trees reuse it and a retrained model never meets a stale one. Scoring falls back to
LightGBM, bit for bit the same scores, where no C compiler is found.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from models.registry import ThreatModels, load_version, read_champion, with_compiled_trees
from models.scoring import ExplainTop, score
from pipelines import layout
from pipelines.io import write_parquet
from pipelines.settings import Settings

KEY_COLUMNS = ("declaration_id", "item_no", "port_of_discharge", "filed_at")
COMPILED_FOLDER = "_compiled"
"""Folder under the models zone holding compiled trees (never a version: no metadata.json)."""


def compiled_trees_folder(settings: Settings) -> Path:
    """Where compiled trees of every model version are cached."""
    return settings.zone("models") / COMPILED_FOLDER


EXPLAIN_CAPACITY_FACTOR = 10
"""Rows explained per port, as a multiple of the largest port's red plus yellow capacity."""


def explain_top(settings: Settings) -> ExplainTop:
    """Reasons for ten times the rows any port can put in its red and yellow lanes (600 rows a
    port with the default capacities).

    Rows selected beyond them (forced by a rule, a watch-list hit or the random draw) get their
    reasons from the selection, in words of the hit or of the scores; the publish stage refuses
    a red or yellow row without reasons.
    """
    capacities = [
        (settings.capacity_red_default, settings.capacity_yellow_default),
        *settings.capacity_overrides.values(),
    ]
    most = max(red + yellow for red, yellow in capacities)
    return ExplainTop(rows=EXPLAIN_CAPACITY_FACTOR * most)


def load_models(
    settings: Settings, version: str | None = None, threads: int | None = None
) -> tuple[str, ThreatModels]:
    """The champion (or `version`) with compiled trees, checked against the feature registry:
    what the night scores with, and what the pre-loading service keeps loaded."""
    root = settings.zone("models")
    version = version or read_champion(root)
    models = load_version(root / version)
    expected = models.metadata.get("registry_hash")
    if expected is not None:
        from features.registry import registry_hash

        if registry_hash() != expected:
            raise ValueError(
                f"model {version} was trained on another feature registry "
                f"({expected[:12]}, now {registry_hash()[:12]}): retrain with `cargo-risk train`"
            )
    return version, with_compiled_trees(models, compiled_trees_folder(settings), threads)


def score_day(settings: Settings, day: date, version: str | None = None) -> Path:
    """Score the items filed on `day` with the champion model (or `version`)."""
    source = layout.features_file(settings, day)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no features for {day}; run featurize first")
    scored = score_features(settings, pl.read_parquet(source), version, source=str(source))
    return write_parquet(scored, layout.scores_file(settings, day))


def score_features(
    settings: Settings,
    features: pl.DataFrame,
    version: str | None = None,
    *,
    source: str = "features",
    loaded: tuple[str, ThreatModels] | None = None,
) -> pl.DataFrame:
    """The scores of a features frame (a day's, or one port's: reasons go to each port's top
    rows either way); `loaded` reuses models already loaded for this night."""
    version, models = loaded if loaded is not None else load_models(settings, version)
    missing = [c for c in KEY_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"{source}: missing key column(s) {', '.join(missing)}")
    return score(models, features, explain=explain_top(settings)).select(
        *KEY_COLUMNS,
        *(f"{name}_score" for name in models.categories),
        "risk_score",
        "reasons",
        pl.lit(version, dtype=pl.String).alias("model_version"),
    )
