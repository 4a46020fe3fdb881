"""Loader for a national watch list kept as a plain CSV.

Input: UTF-8 CSV with a header; required columns `entry_id` and `name`; optional `name_quality`
(primary, good or low; default primary), `entity_type` (default entity), `countries`
(`|`-separated ISO alpha-2 codes or country names), `program` and `listed_on`. Several rows may
share an entry_id: the aliases of one entry. Output grain: one row per listed name.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pipelines.watchlists.entries import (
    LoadedList,
    WatchlistError,
    check_list_name,
    check_version,
    country_codes,
    entries_frame,
)

REQUIRED = ("entry_id", "name")
QUALITIES = ("primary", "good", "low")


def load_national(path: Path, list_name: str, version: str) -> LoadedList:
    """Parse one national list CSV as version `version` of list `list_name`."""
    check_list_name(list_name)
    check_version(version)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise WatchlistError(f"{path}: not valid UTF-8; nothing was loaded") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise WatchlistError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    rows: list[dict[str, Any]] = []
    for line, record in enumerate(reader, start=2):
        entry_id = (record.get("entry_id") or "").strip()
        name = (record.get("name") or "").strip()
        for field, value in (("entry_id", entry_id), ("name", name)):
            if not value:
                raise WatchlistError(f"{path}: line {line}: {field} is empty; nothing was loaded")
        quality = (record.get("name_quality") or "primary").strip().lower()
        if quality not in QUALITIES:
            raise WatchlistError(
                f"{path}: line {line}: name_quality {quality!r} is not one of "
                f"{', '.join(QUALITIES)}; nothing was loaded"
            )
        countries = [c.strip() for c in (record.get("countries") or "").split("|") if c.strip()]
        rows.append(
            {
                "list_name": list_name,
                "list_version": version,
                "entry_id": entry_id,
                "name": name,
                "name_quality": quality,
                "entity_type": (record.get("entity_type") or "entity").strip().lower(),
                "nationality": [],
                "countries": country_codes(countries),
                "addresses": [],
                "program": (record.get("program") or "").strip(),
                "listed_on": (record.get("listed_on") or "").strip() or None,
            }
        )
    if not rows:
        raise WatchlistError(f"{path}: no rows")
    return LoadedList(list_name, version, entries_frame(rows), [path])
