"""Fixtures shared by several test modules; the builders behind them live in tests/factories/.

Tests take what they need from here or from tests.factories, never from another test module.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.settings import Settings
from tests.factories.model_world import home_world, write_home
from tests.factories.postgres import fresh_postgres_database, postgres_unavailable


@pytest.fixture(autouse=True)
def _fresh_cli_root_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root command's `--home` / `--config` live in a process-wide object; a test that ran
    the whole CLI with `--home` would otherwise hand its home to the next test that builds a
    sub-app without the root callback (seen once tests shared worker processes)."""
    from pipelines.cli import common

    monkeypatch.setattr(common.state, "home", None)
    monkeypatch.setattr(common.state, "config_file", None)


@pytest.fixture
def model_home(tmp_path: Path) -> Settings:
    """A data home holding the small model world's features and outcomes, one partition a day."""
    world = home_world()
    return write_home(tmp_path, world.features, world.outcomes)


@pytest.fixture(params=["sqlite", "postgresql"])
def inspector_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The inspector app's database: None (its SQLite default) or a fresh PostgreSQL database
    on the server of `scripts/services.sh start` (skipped, with the reason, when it is down)."""
    if request.param == "sqlite":
        yield None
        return
    missing = postgres_unavailable()
    if missing:
        pytest.skip(f"{missing}: run `scripts/services.sh start` (as root) first")
    with fresh_postgres_database("inspector") as url:
        yield url
        # Tests open engines without disposing them (SQLite forgives that); collect their pooled
        # connections now, quietly, before the database is dropped under them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
