"""Bench worlds: a data home with N days of staged history, its rollups, and one night in landing.

Grain: one home per (declarations a day, history days). History days are written straight to the
staging zone (the ingest and validate stages are measured on the night, not on 365 days of
history) and then rolled up day by day through the same incremental history the pipeline uses
(`pipelines.featurize.history_before`). The night's declarations land as a CSV, as a delivering
system would write them, so the night runs every stage from ingest on.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from pipelines import layout, nightly
from pipelines.featurize import history_before, load_references
from pipelines.io import write_parquet, write_text
from pipelines.settings import Settings, load_settings
from pipelines.train import train_models
from pipelines.validate import latest_filings
from pipelines.watchlists.shipped import load_shipped
from simulator.day import generate_day
from simulator.inspections import inspect_day
from simulator.stage import INSPECTION, TRAFFIC, day_rng, finding_notes
from simulator.world import WorldParameters, build_world
from simulator.writer import declarations_path as landing_declarations
from simulator.writer import write_declarations

START = date(2025, 1, 1)
SEED = 20261129
THREAT_RATE = 0.01
"""Dense enough that a short training history holds findings of both threat kinds."""
WORLD_MARKER = ".bench-world.json"
"""The parameters a home was built with, written when the build is complete."""


@dataclass(frozen=True)
class BenchWorld:
    """A prepared home: history staged and rolled up to `night`, the night waiting in landing."""

    home: Path
    night: date
    rows_per_day: int
    history_days: int

    def settings(self) -> Settings:
        """Settings of this home (defaults otherwise, never the caller's environment)."""
        return bench_settings(self.home)


def bench_settings(home: Path) -> Settings:
    """Default settings on `home`, independent of the environment of whoever runs the bench."""
    return load_settings(environ={}, home=home)


def _stage_history_day(settings: Settings, frame: pl.DataFrame, day: date) -> None:
    """Staging as validate would leave it: valid rows of the day, latest filing per item."""
    valid = frame.filter(
        pl.col("_invalid").is_null() & (pl.col("filed_at").dt.date() == day)
    ).select([pl.col(c).cast(t) for c, t in DECLARATIONS.polars_schema.items()])
    write_parquet(latest_filings(valid), layout.staged_declarations_file(settings, day))


def _stage_outcomes(settings: Settings, outcomes: list[pl.DataFrame]) -> None:
    """Inspections of the history, one staging partition per inspection day."""
    frame = pl.concat(outcomes).select(
        [pl.col(c).cast(t) for c, t in OUTCOMES.polars_schema.items()]
    )
    dated = frame.with_columns(pl.col("inspected_at").dt.date().alias("_day"))
    for (day,), part in dated.group_by("_day", maintain_order=True):
        write_parquet(
            part.drop("_day").sort("declaration_id", "item_no"),
            layout.staged_outcomes_file(settings, day),
        )


def build_bench_world(
    home: Path,
    rows_per_day: int,
    history_days: int,
    *,
    seed: int = SEED,
    featurize_last: int = 0,
    threat_rate: float = THREAT_RATE,
    reuse: bool = False,
) -> BenchWorld:
    """Simulate `history_days` of history plus one night into a fresh `home`.

    History is rolled up to the night; the last `featurize_last` history days also get their
    features written (training needs them). No model is trained here: see `train_bench_model`.
    With `reuse`, a home built before with the same parameters is returned as it is (a year
    of history at 100 k a day takes a quarter of an hour to simulate).
    """
    night = START + timedelta(days=history_days)
    recipe = {
        "rows_per_day": rows_per_day,
        "history_days": history_days,
        "seed": seed,
        "featurize_last": featurize_last,
        "threat_rate": threat_rate,
    }
    marker = home / WORLD_MARKER
    if reuse and marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == recipe:
        return BenchWorld(home, night, rows_per_day, history_days)
    if home.exists():
        shutil.rmtree(home)
    settings = bench_settings(home)
    world = build_world(
        seed, START, history_days + 1, params=WorldParameters(threat_rate=threat_rate)
    )
    notes = finding_notes(world)
    outcomes: list[pl.DataFrame] = []
    for offset in range(history_days):
        day = START + timedelta(days=offset)
        count = round(rows_per_day * world.params.volume_factor(day))
        frame, truth = generate_day(world, day, count, day_rng(seed, TRAFFIC, day))
        _stage_history_day(settings, frame, day)
        outcomes.append(inspect_day(world, frame, truth, day_rng(seed, INSPECTION, day), notes))
    # Only inspections made before the night are known to it.
    known = [o.filter(pl.col("inspected_at").dt.date() < night) for o in outcomes]
    _stage_outcomes(settings, known)
    refs = load_references(settings)
    first_featurized = night - timedelta(days=featurize_last)
    history_before(settings, first_featurized, refs)
    for offset in range(featurize_last):
        nightly.featurize(settings, first_featurized + timedelta(days=offset))
    history_before(settings, night, refs)
    # The night's volume is the nominal one, whatever its weekday, so sizes compare directly.
    frame, _ = generate_day(world, night, rows_per_day, day_rng(seed, TRAFFIC, night))
    write_declarations(frame, landing_declarations(settings.zone("landing"), night))
    load_shipped(settings)
    # Written last: a build cut short leaves no marker, so it is never reused.
    write_text(json.dumps(recipe, sort_keys=True), marker)
    return BenchWorld(home, night, rows_per_day, history_days)


def train_bench_model(world: BenchWorld) -> Path:
    """Train the champion on the featurized history days of `world`; return the version folder.

    Any model there before is removed first: the champion is always trained by this code.
    """
    shutil.rmtree(world.settings().zone("models"), ignore_errors=True)
    created = datetime(world.night.year, world.night.month, world.night.day, tzinfo=UTC)
    return train_models(world.settings(), world.night - timedelta(days=1), created)


def install_model(source: BenchWorld, target: BenchWorld) -> None:
    """Give `target` the same champion as `source`, so every size scores with one model."""
    models = target.settings().zone("models")
    if models.exists():
        shutil.rmtree(models)
    shutil.copytree(source.settings().zone("models"), models)


def link_copy(source: Path, target: Path) -> Path:
    """A copy of a home made of hard links: every stage replaces files whole, never in place."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, copy_function=_link)
    return target


def _link(source: str, target: str) -> None:
    Path(target).hardlink_to(source)
