"""The stored shape of a loaded watch list, shared by every loader.

Grain: one row per listed name (an entry's primary name or one of its aliases), so a hit names
the exact spelling that matched and the entry it belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl
from anyascii import anyascii

import contracts

SHIPPED = Path(contracts.__file__).parent / "data" / "watchlists"
"""Copies of the official list files shipped with the project (demo and tests)."""

ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "list_name": pl.String(),
    "list_version": pl.String(),
    "entry_id": pl.String(),
    "name": pl.String(),
    "name_quality": pl.String(),
    "entity_type": pl.String(),
    "nationality": pl.List(pl.String()),
    "countries": pl.List(pl.String()),
    "addresses": pl.List(pl.String()),
    "program": pl.String(),
    "listed_on": pl.String(),
}
"""name_quality: primary, good (a strong alias) or low (UN "Low": not enough to identify alone).
countries: ISO alpha-2 codes from nationality and addresses, the supporting evidence of a hit."""

LIST_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
VERSION = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class WatchlistError(ValueError):
    """A list file that cannot be loaded; the message is one line naming file, place and cause."""


@dataclass
class LoadedList:
    """One parsed list file, ready to store as a version."""

    list_name: str
    version: str
    entries: pl.DataFrame
    sources: list[Path]
    notes: list[str] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        """Distinct listed entries (not names)."""
        return self.entries.get_column("entry_id").n_unique()


def check_list_name(name: str) -> str:
    """The list name, if it is a safe folder name (lower-case letters, digits, - and _)."""
    if not LIST_NAME.fullmatch(name):
        raise WatchlistError(
            f"list name {name!r}: use 2-40 lower-case letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return name


def check_version(version: str) -> str:
    """The version label, if it is a date (YYYY-MM-DD, or YYYY-MM when the day is unknown)."""
    if not VERSION.fullmatch(version):
        raise WatchlistError(f"version {version!r}: expected YYYY-MM-DD (or YYYY-MM)")
    return version


def entries_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Rows as a frame with the entry schema, in a stable order."""
    frame = pl.DataFrame(rows, schema=ENTRY_SCHEMA)
    return frame.unique(["entry_id", "name"], keep="first", maintain_order=True).sort(
        ["entry_id", "name_quality", "name"]
    )


def _country_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", anyascii(text).lower().replace("&", "and"))


@lru_cache(maxsize=1)
def _country_table() -> dict[str, str]:
    table = pl.read_csv(SHIPPED / "country_names.csv", infer_schema=False)
    return {_country_key(n): a for n, a in table.iter_rows()}


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(_country_table().values())


def country_code(text: str | None) -> str | None:
    """ISO alpha-2 code of a country as written in a list ("Korea, North", "Iran (Islamic ...)")."""
    if not text or not text.strip():
        return None
    table = _country_table()
    if text.strip() in _country_codes():
        return text.strip()
    candidates = [text, text.split("(")[0], text.split(":")[-1]]
    candidates += re.split(r"[/,.;]| or ", text)
    candidates += text.split()
    for candidate in candidates:
        code = table.get(_country_key(candidate))
        if code:
            return code
    return None


def country_codes(texts: list[str]) -> list[str]:
    """Distinct ISO codes of several country texts, in first-seen order."""
    codes: list[str] = []
    for text in texts:
        code = country_code(text)
        if code and code not in codes:
            codes.append(code)
    return codes
