"""The night a bench home leaves to run, read off its landing file (no heavy imports: measured
children use it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path


def landing_file(home: Path) -> Path:
    """The home's one landing file of declarations (`..._YYYY-MM-DD.csv`)."""
    (source,) = sorted((home / "landing" / "declarations").glob("*.csv"))
    return source


def landing_night(home: Path) -> date:
    """The date of the home's landing file: a bench world's night, or the day `validate_scale
    grow` made. The raw zone is no guide: a world also holds a few rows filed ahead for later
    dates."""
    return date.fromisoformat(landing_file(home).stem.rsplit("_", 1)[-1])
