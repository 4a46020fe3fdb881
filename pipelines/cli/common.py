"""What every verb shares: the settings built once from the root options, and console output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from pipelines.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class _RootOptions:
    config_file: Path | None = None
    home: Path | None = None


state = _RootOptions()


def settings() -> Settings:
    """Settings from the root options, the config file and the environment."""
    if state.home is None:
        return load_settings(config_file=state.config_file)
    return load_settings(config_file=state.config_file, home=state.home)
