"""What every verb shares: the settings built once from the root options, and console output."""

from __future__ import annotations

import errno
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from pipelines.settings import Settings, SettingsError, load_settings

LOG_WIDTH = 10_000
"""Rich lays tables out for 80 columns when output is not a terminal, cutting a rejected file's
name and reason out of logs; a log gets lines as long as their content instead."""


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else LOG_WIDTH)


console = _console(stderr=False)
err_console = _console(stderr=True)


@dataclass
class _RootOptions:
    config_file: Path | None = None
    home: Path | None = None


state = _RootOptions()


def settings() -> Settings:
    """Settings from the root options, the config file and the environment; a value of the
    wrong kind is a SettingsError naming the setting (one line, no traceback)."""
    overrides: dict[str, Any] = {} if state.home is None else {"home": state.home}
    try:
        return load_settings(state.config_file, None, **overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SettingsError(
            f"setting {where}: {first['msg']} (got {first.get('input')!r}); "
            f"{error.error_count()} problem(s) in all"
        ) from error


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_METAVAR = "YYYY-MM-DD"


def iso_date(value: object) -> date:
    """A calendar date typed YYYY-MM-DD; anything else is refused with the option's name.

    Every date option is made with `date_option`, so that all verbs read and refuse dates alike
    (Python alone would also read week dates and compact forms).
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


def date_option(*flags: str, help: str) -> Any:
    """A typer option holding a YYYY-MM-DD date, read and refused by `iso_date`."""
    return typer.Option(*flags, parser=iso_date, metavar=DATE_METAVAR, help=help)


_HINTS = {
    errno.ENOSPC: "free space on that disk, then run again (a rerun replaces what was half done)",
    errno.EDQUOT: "raise the quota or free space, then run again",
    errno.EROFS: "the zone is on a read-only file system: remount it writable or set another home",
    errno.EACCES: "this user may not write there: fix the folder's owner or permissions",
    errno.EPERM: "this user may not write there: fix the folder's owner or permissions",
    errno.ENOENT: "it does not exist: check the path, the landing feed or the home folder",
}


HINTED_ERRNOS = frozenset(_HINTS)
"""OS errors the machine causes (disk full, read-only, permissions, missing path), not bugs."""


def one_line(error: BaseException) -> str:
    """An operator's one-line message: the path and the cause, and what to do where known."""
    if isinstance(error, OSError) and error.strerror:
        where = error.filename if error.filename is not None else "(no path)"
        hint = _HINTS.get(error.errno or 0)
        return f"{where}: {error.strerror}" + (f"; {hint}" if hint else "")
    return " ".join(str(error).split()) or type(error).__name__
