from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.settings import load_settings


def test_environment_wins_over_file_and_file_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("home: /from/file\nseed: 7\nmax_rejected_share: 0.5\n")
    settings = load_settings(
        environ={"CARGO_RISK_CONFIG": str(config), "CARGO_RISK_SEED": "11"},
    )
    assert settings.home == Path("/from/file")
    assert settings.seed == 11
    assert settings.max_rejected_share == 0.5


def test_zones_live_under_home(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    assert settings.zone("quarantine") == tmp_path / "quarantine"


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("capacity_per_prot: 3\n")
    with pytest.raises(ValidationError, match="capacity_per_prot"):
        load_settings(config_file=config, environ={})


def test_capacity_overrides_from_environment_json(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"CARGO_RISK_CAPACITY_OVERRIDES": '{"NLRTM": [50, 100]}'}, home=tmp_path
    )
    assert settings.capacity_overrides == {"NLRTM": (50, 100)}
