"""The `featurize` verbs through Typer's CliRunner (registered on a bare app here)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from features.registry import markdown_table
from pipelines.cli import common
from pipelines.cli import featurize as featurize_verbs
from pipelines.io import write_parquet
from pipelines.layout import features_file, staged_declarations_file
from pipelines.settings import load_settings
from tests.factories.feature_world import world

DAY = date(2026, 5, 1)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setattr(common.state, "home", tmp_path)
    monkeypatch.setattr(common.state, "config_file", None)
    monkeypatch.delenv("CARGO_RISK_CONFIG", raising=False)
    bare = typer.Typer()

    @bare.callback()
    def _root() -> None:
        """Test root."""

    featurize_verbs.register(bare)
    return bare


def test_registry_prints_the_docs_table(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["featurize", "registry", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == markdown_table()


def test_run_writes_a_features_partition(app: typer.Typer, tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    filed, _ = world(DAY, 2)
    for day, frame in filed.items():
        write_parquet(frame, staged_declarations_file(settings, day))
    result = CliRunner().invoke(
        app, ["featurize", "run", "--from", "2026-05-01", "--to", "2026-05-02"]
    )
    assert result.exit_code == 0, result.output
    second = pl.read_parquet(features_file(settings, date(2026, 5, 2)))
    assert second.height == filed[date(2026, 5, 2)].height
    assert second["shipper_n_items"].sum() > 0


def test_run_names_a_missing_day(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["featurize", "run", "--date", "2026-05-03"])
    assert result.exit_code == 1
    assert "no staged declarations for 2026-05-03" in result.output
