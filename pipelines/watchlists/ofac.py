"""Loader for the OFAC SDN list in its legacy CSV form (sdn.csv, with alt.csv and add.csv).

Output grain: one row per listed name: each SDN's primary name (entry id = ent_num) and each alias
from alt.csv. The files have no header, write null as `-0-`, end lines with CRLF and the file with
a 0x1A byte; all of that is accepted. A row with the wrong number of fields, a non-numeric ent_num
or an empty name rejects the whole file with its line number. OFAC files carry no date, so the
version is given by the caller (the CLI takes it from `--version` or the folder name).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from pipelines.watchlists.entries import (
    LoadedList,
    WatchlistError,
    check_version,
    country_codes,
    entries_frame,
)

LIST_NAME = "ofac"
SDN_FIELDS = 12
ALT_FIELDS = 5
ADD_FIELDS = 6
_NATIONALITY = re.compile(r"(?:nationality|citizen)\s+([A-Za-z ,'-]+?)\s*(?:[;.]|$)", re.I)


def _rows(path: Path, width: int) -> list[tuple[int, list[str | None]]]:
    data = path.read_bytes().rstrip(b"\x1a")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise WatchlistError(f"{path}: line {line}: not valid UTF-8; nothing was loaded") from None
    rows: list[tuple[int, list[str | None]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != width:
            raise WatchlistError(
                f"{path}: line {reader.line_num}: {len(fields)} fields, expected {width}; "
                "nothing was loaded"
            )
        values = [None if f.strip() in ("-0-", "") else f.strip() for f in fields]
        if values[0] is None or not values[0].isdigit():
            raise WatchlistError(
                f"{path}: line {reader.line_num}: ent_num {fields[0]!r} is not a number; "
                "nothing was loaded"
            )
        rows.append((reader.line_num, values))
    if not rows:
        raise WatchlistError(f"{path}: no rows")
    return rows


def load_ofac(
    sdn: Path, version: str, alt: Path | None = None, add: Path | None = None
) -> LoadedList:
    """Parse one SDN set (sdn.csv and optionally alt.csv and add.csv) as one list version."""
    check_version(version)
    entries: dict[str, dict[str, Any]] = {}
    for line, (ent_num, name, sdn_type, program, *_rest, remarks) in _rows(sdn, SDN_FIELDS):
        if not name:
            raise WatchlistError(f"{sdn}: line {line}: SDN_Name is empty; nothing was loaded")
        assert ent_num is not None
        nationality = [m.group(1).strip() for m in _NATIONALITY.finditer(remarks or "")]
        entries[ent_num] = {
            "list_name": LIST_NAME,
            "list_version": version,
            "entry_id": ent_num,
            "name": name,
            "entity_type": (sdn_type or "entity").lower(),
            "nationality": nationality,
            "address_countries": [],
            "addresses": [],
            "program": (program or "").replace("] [", ", "),
            "listed_on": None,
        }
    notes: list[str] = []
    if add is not None:
        orphans = 0
        for _line, (ent_num, _num, street, city, country, _remarks) in _rows(add, ADD_FIELDS):
            entry = entries.get(ent_num or "")
            if entry is None:
                orphans += 1
                continue
            address = ", ".join(p for p in (street, city, country) if p)
            if address:
                entry["addresses"].append(address)
            if country:
                entry["address_countries"].append(country)
        if orphans:
            notes.append(f"{add.name}: {orphans} address(es) of unknown ent_num skipped")
    rows: list[dict[str, Any]] = []
    for entry in entries.values():
        entry["countries"] = country_codes(entry["nationality"] + entry.pop("address_countries"))
        rows.append({**entry, "name_quality": "primary"})
    if alt is not None:
        orphans = 0
        for line, (ent_num, _num, _type, alt_name, _remarks) in _rows(alt, ALT_FIELDS):
            owner = entries.get(ent_num or "")
            if owner is None:
                orphans += 1
                continue
            if not alt_name:
                raise WatchlistError(f"{alt}: line {line}: alt_name is empty; nothing was loaded")
            rows.append({**owner, "name": alt_name, "name_quality": "good"})
        if orphans:
            notes.append(f"{alt.name}: {orphans} alias(es) of unknown ent_num skipped")
    sources = [p for p in (sdn, alt, add) if p is not None]
    return LoadedList(LIST_NAME, version, entries_frame(rows), sources, notes)
