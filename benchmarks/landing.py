"""The night a bench home leaves to run, read off its landing file (no heavy imports: measured
children use it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path


def landing_night(home: Path) -> date:
    """The date of the home's one landing file of declarations (`..._YYYY-MM-DD.csv`): a bench
    world's night, or the day `validate_scale grow` made. The raw zone is no guide: a world also
    holds a few rows filed ahead for later dates."""
    (source,) = sorted((home / "landing" / "declarations").glob("*.csv"))
    return date.fromisoformat(source.stem.rsplit("_", 1)[-1])
