"""Loader for the UN Security Council Consolidated List (official XML, checked against its XSD).

Output grain: one row per listed name: each individual's or entity's primary name and every alias,
with the alias quality, nationality, address countries, UN list type (the sanctions regime) and the
reference number (QDi.123, TAe.001) as entry id. The version is the file's `dateGenerated` date.

Checks, in order, each failing with one line naming the file and the place: UTF-8 decoding,
characters XML forbids, well-formedness, then the XSD. The UN's own files break their XSD's child
order in places (a NOTE inside a date of birth, an entity without an alias); such order-only
deviations are counted and kept as a note, any other XSD error (a wrong type, a missing required
field) rejects the file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import xmlschema
from defusedxml import ElementTree as SafeElementTree

from pipelines.watchlists.entries import (
    SHIPPED,
    LoadedList,
    WatchlistError,
    country_codes,
    entries_frame,
)

LIST_NAME = "un"
DEFAULT_XSD = SHIPPED / "sc-sanctions.xsd"
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_QUALITY = {"good": "good", "low": "low", "a.k.a.": "good", "f.k.a.": "good"}


def _position(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _check_bytes(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WatchlistError(
            f"{path}: {_position(data, error.start)}: byte 0x{data[error.start]:02x} is not "
            "valid UTF-8 (the file is damaged or in another encoding); nothing was loaded"
        ) from None
    forbidden = _FORBIDDEN.search(data)
    if forbidden:
        raise WatchlistError(
            f"{path}: {_position(data, forbidden.start())}: control character "
            f"0x{data[forbidden.start()]:02x} is not allowed in XML; nothing was loaded"
        )


def _parse(path: Path, data: bytes) -> Element:
    try:
        root: Element = SafeElementTree.fromstring(data)
    except ParseError as error:
        line, column = error.position
        raise WatchlistError(
            f"{path}: line {line}, column {column + 1}: not well-formed XML ({error.msg}); "
            "nothing was loaded"
        ) from None
    if root.tag != "CONSOLIDATED_LIST":
        raise WatchlistError(f"{path}: root element is <{root.tag}>, not <CONSOLIDATED_LIST>")
    return root


@lru_cache(maxsize=4)
def _schema(xsd: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(xsd))


def _validate(path: Path, root: Element, xsd: Path) -> list[str]:
    order_deviations: list[str] = []
    for error in _schema(xsd.resolve()).iter_errors(root):
        if isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
            # Only the first deviation's path is worth its cost (a walk up the whole tree).
            first = not order_deviations
            order_deviations.append(f"{error.path}: {error.reason}" if first else "")
            continue
        reason = getattr(error, "reason", None) or str(error).splitlines()[0]
        raise WatchlistError(f"{path}: {error.path}: breaks {xsd.name}: {reason}")
    return order_deviations


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _values(record: Element, tag: str) -> list[str]:
    return [v for v in (_text(e) for e in record.findall(f"{tag}/VALUE")) if v]


def _address(address: Element) -> str:
    parts = [_text(address.find(t)) for t in ("STREET", "CITY", "STATE_PROVINCE", "COUNTRY")]
    return ", ".join(p for p in parts if p)


def _records(path: Path, root: Element, version: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind, tag in (("individual", "INDIVIDUALS/INDIVIDUAL"), ("entity", "ENTITIES/ENTITY")):
        prefix = kind.upper()
        for number, record in enumerate(root.findall(tag), start=1):
            reference = _text(record.find("REFERENCE_NUMBER"))
            name_parts = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
            primary = " ".join(p for p in (_text(record.find(t)) for t in name_parts) if p)
            if not reference or not primary:
                field = "REFERENCE_NUMBER" if not reference else "FIRST_NAME"
                raise WatchlistError(f"{path}: {tag}[{number}]: {field} is empty")
            nationality = _values(record, "NATIONALITY")
            address_elements = record.findall(f"{prefix}_ADDRESS")
            addresses = [a for a in map(_address, address_elements) if a]
            address_countries = [_text(a.find("COUNTRY")) for a in address_elements]
            common = {
                "list_name": LIST_NAME,
                "list_version": version,
                "entry_id": reference,
                "entity_type": kind,
                "nationality": nationality,
                "countries": country_codes(nationality + address_countries),
                "addresses": addresses,
                "program": _text(record.find("UN_LIST_TYPE")),
                "listed_on": _text(record.find("LISTED_ON")) or None,
            }
            rows.append({**common, "name": primary, "name_quality": "primary"})
            original = _text(record.find("NAME_ORIGINAL_SCRIPT"))
            if original:
                rows.append({**common, "name": original, "name_quality": "good"})
            for alias in record.findall(f"{prefix}_ALIAS"):
                name = _text(alias.find("ALIAS_NAME"))
                if name:
                    quality = _QUALITY.get(_text(alias.find("QUALITY")).lower(), "good")
                    rows.append({**common, "name": name, "name_quality": quality})
    return rows


def load_un(path: Path, xsd: Path = DEFAULT_XSD) -> LoadedList:
    """Parse and check one UN consolidated list XML file; raise WatchlistError when damaged."""
    data = path.read_bytes()
    _check_bytes(path, data)
    root = _parse(path, data)
    generated = root.get("dateGenerated", "")
    if not re.match(r"^\d{4}-\d{2}-\d{2}", generated):
        raise WatchlistError(f"{path}: <CONSOLIDATED_LIST> has no valid dateGenerated attribute")
    deviations = _validate(path, root, xsd)
    version = generated[:10]
    entries = entries_frame(_records(path, root, version))
    if entries.is_empty():
        raise WatchlistError(f"{path}: no individuals or entities found")
    notes = []
    if deviations:
        notes.append(
            f"{len(deviations)} child-order deviation(s) from {xsd.name} tolerated, "
            f"first: {deviations[0]}"
        )
    return LoadedList(LIST_NAME, version, entries, [path, xsd], notes)
