from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.settings import SettingsError, load_settings


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


def test_other_variables_with_the_prefix_are_not_settings(tmp_path: Path) -> None:
    # scripts/services.sh exports these; they used to stop every command (extra_forbidden).
    settings = load_settings(
        environ={"CARGO_RISK_REDIS_URL": "redis://127.0.0.1:6379/0", "CARGO_RISK_SEED": "5"},
        home=tmp_path,
    )
    assert settings.seed == 5


def test_a_missing_or_malformed_settings_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="settings file not found"):
        load_settings(config_file=tmp_path / "nope.yaml", environ={})
    listed = tmp_path / "list.yaml"
    listed.write_text("- home\n- seed\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_settings(config_file=listed, environ={})


def test_list_settings_and_overrides_from_every_source(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("rules_dirs: [/rules/a]\ncapacity_red_default: 9\n")
    settings = load_settings(
        config_file=config,
        environ={"cargo_risk_rules_dirs": '["/rules/b", "/rules/c"]'},  # any case
        capacity_red_default=3,
    )
    assert settings.rules_dirs == [Path("/rules/b"), Path("/rules/c")]
    assert settings.capacity_red_default == 3


def test_a_misspelt_variable_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="did you mean CARGO_RISK_CAPACITY_RED_DEFAULT"):
        load_settings(environ={"CARGO_RISK_CAPACITY_RED_DEFUALT": "3"})


def test_other_variables_with_the_prefix_are_not_settings_and_pass() -> None:
    found = load_settings(
        environ={"CARGO_RISK_REDIS_URL": "redis://127.0.0.1:56379/0", "CARGO_RISK_PG_PORT": "55432"}
    )
    assert found == load_settings(environ={})
