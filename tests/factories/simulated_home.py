"""A data home on a small simulated world, built as an agency would before its first night.

Several end-to-end tests need the same thing: the simulator's days, the shipped watch lists,
every day but the last ingested with its inspection outcomes imported and featurized, and (for
most) a champion trained on those days. The last day is left in landing as the night under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pipelines import nightly
from pipelines.outcomes import import_outcome_files
from pipelines.settings import Settings, load_settings
from pipelines.staging import ingest_and_stage
from pipelines.train import train_models
from pipelines.watchlists.shipped import load_shipped
from simulator.stage import simulate_world


def small_settings(home: Path) -> Settings:
    """Settings for a small world: red and yellow budgets a few items wide."""
    return load_settings(environ={}, home=home, capacity_red_default=5, capacity_yellow_default=10)


def history_home(
    home: Path, start: date, days: int, per_day: int, *, seed: int, threat_rate: float = 0.03
) -> Settings:
    """Simulate `days` days from `start` into `home` and stage all but the last (the night)."""
    settings = small_settings(home)
    night = start + timedelta(days=days - 1)
    result = simulate_world(settings, start, days, per_day, threat_rate=threat_rate, seed=seed)
    load_shipped(settings)
    before_night = night.isoformat()
    ingest_and_stage(
        [p for p in result.declaration_files if before_night not in p.name],
        settings,
        now=datetime.combine(night, time(1), tzinfo=UTC),
    )
    import_outcome_files([p for p in result.outcome_files if before_night not in p.name], settings)
    for offset in range(days - 1):
        nightly.featurize(settings, start + timedelta(days=offset))
    return settings


def trained_home(
    home: Path, start: date, days: int, per_day: int, *, seed: int, threat_rate: float = 0.03
) -> Settings:
    """`history_home` plus a champion trained on every day before the night."""
    settings = history_home(home, start, days, per_day, seed=seed, threat_rate=threat_rate)
    night = start + timedelta(days=days - 1)
    train_models(settings, night - timedelta(days=1), datetime.combine(night, time(), tzinfo=UTC))
    return settings
