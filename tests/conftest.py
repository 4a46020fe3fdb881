"""Fixtures shared by several test modules; the builders behind them live in tests/factories/.

Tests take what they need from here or from tests.factories, never from another test module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.settings import Settings
from tests.factories.model_world import home_world, write_home


@pytest.fixture
def model_home(tmp_path: Path) -> Settings:
    """A data home holding the small model world's features and outcomes, one partition a day."""
    world = home_world()
    return write_home(tmp_path, world.features, world.outcomes)
