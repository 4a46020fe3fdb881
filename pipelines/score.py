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

from collections.abc import Sequence
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
        from features.registry import model_feature_names, registry_hash

        if registry_hash() != expected:
            raise RegistryMismatchError(
                version, expected, registry_hash(), models.feature_names, model_feature_names()
            )
    return version, with_compiled_trees(models, compiled_trees_folder(settings), threads)


class RegistryMismatchError(ValueError):
    """The model in force was trained on another release's features: after an upgrade, an
    operator featurizes the history again and retrains; nothing scores until then."""

    def __init__(
        self,
        version: str,
        trained_hash: str,
        current_hash: str,
        trained: Sequence[str],
        current: Sequence[str],
    ) -> None:
        known, now = set(trained), set(current)
        added = [name for name in current if name not in known]
        removed = [name for name in trained if name not in now]
        changes = (
            "; ".join(
                part
                for part in (
                    f"new feature(s) {_first_names(added)}" if added else "",
                    f"feature(s) gone {_first_names(removed)}" if removed else "",
                )
                if part
            )
            or "feature definitions changed"
        )
        super().__init__(
            f"model {version} was trained on another feature registry ({trained_hash[:12]}, "
            f"now {current_hash[:12]}: {changes}): rebuild the history's features with "
            "`cargo-risk featurize run --from FIRST --to LAST`, then `cargo-risk train`"
        )


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
    explain: ExplainTop | None = None,
) -> pl.DataFrame:
    """The scores of a features frame (a day's, or one port's: reasons go to each port's top
    rows either way); `loaded` reuses models already loaded for this night; `explain` picks the
    rows given reasons (default `explain_top(settings)`)."""
    version, models = loaded if loaded is not None else load_models(settings, version)
    missing = [c for c in KEY_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"{source}: missing key column(s) {', '.join(missing)}")
    return score(
        models, features, explain=explain if explain is not None else explain_top(settings)
    ).select(
        *KEY_COLUMNS,
        *(f"{name}_score" for name in models.categories),
        "risk_score",
        "reasons",
        pl.lit(version, dtype=pl.String).alias("model_version"),
    )


def _first_names(names: Sequence[str], shown: int = 3) -> str:
    """A few names for a one-line message, with how many more there are."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
