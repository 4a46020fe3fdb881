"""What every verb shares: the settings built once from the root options, and console output."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import typer
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


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_METAVAR = "YYYY-MM-DD"


def iso_date(value: object) -> date:
    """A calendar date typed YYYY-MM-DD; anything else is refused with the option's name.

    Give it as `parser=iso_date, metavar=DATE_METAVAR` to every date option, so that all verbs
    read and refuse dates alike (Python alone would also read week dates and compact forms).
    """
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if _ISO_DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise typer.BadParameter(f"{text!r} is not a date; write it YYYY-MM-DD, e.g. 2026-03-31")
