"""The alert bundle exchanged with partner agencies: format constants and its JSON Schema.

Grain of a bundle: one signed JSON document from one issuing agency, holding the seizures and
findings of a period, the party alerts and the commodity/route indicators its sharing policy lets
out. The schema is built here from the threat registry (so a new threat category reaches the
format without an edit) and shipped as `alert_bundle.schema.json` beside this module for partners;
a test keeps the two identical. docs/alerts.md describes every field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts import threats

FORMAT = "cargo-risk/alert-bundle"
FORMAT_VERSION = "1.0"
"""major.minor: a reader accepts every minor version of the major it knows."""
SCHEMA_FILE = Path(__file__).parent / "alert_bundle.schema.json"
SCHEMA_ID = "https://cargo-risk.example/contracts/alerts/alert_bundle-1.schema.json"

SEVERITIES = ("low", "medium", "high")
"""Ordered: a sharing policy's minimum severity lets out that level and the ones after it."""
FINDING_CATEGORIES = (*threats.NAMES, "other")
"""What a seizure may be about: a threat category, or another offence."""
SIGNATURE_ALGORITHM = "Ed25519"

ISSUER_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
"""An agency's short name: lower-case words joined by '-', e.g. `customs-xa`."""
ALERT_ID_PATTERN = r"^(SZ|PA|IN)-[0-9A-F]{12}$"
"""SZ = seizure, PA = party alert, IN = indicator; 12 hex digits of a digest of its content."""
COUNTRY_PATTERN = r"^[A-Z]{2}$"
LOCODE_PATTERN = r"^[A-Z]{2}[A-Z0-9]{3}$"
DATE_FORMAT = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}

SEIZURE_FIELDS = (
    "port",
    "hs_code",
    "commodity",
    "route",
    "mode",
    "concealment",
    "detection_method",
    "shipper",
    "consignee",
)
"""Optional fields of a seizure a sharing policy may withhold; the rest are always sent."""


def _text(max_length: int = 200) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _party() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": _text(),
            "country": _nullable({"type": "string", "pattern": COUNTRY_PATTERN}),
            "pseudonymised": {"type": "boolean"},
        },
    }


def bundle_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an alert bundle, format FORMAT_VERSION."""
    alert_id = {"type": "string", "pattern": ALERT_ID_PATTERN}
    severity = {"enum": list(SEVERITIES)}
    route = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "origin": _nullable({"type": "string", "pattern": COUNTRY_PATTERN}),
            "dispatch": _nullable({"type": "string", "pattern": COUNTRY_PATTERN}),
            "loading_port": _nullable({"type": "string", "pattern": LOCODE_PATTERN}),
            "transshipment_ports": {
                "type": "array",
                "items": {"type": "string", "pattern": LOCODE_PATTERN},
            },
            "destination": {"type": "string", "pattern": COUNTRY_PATTERN},
        },
    }
    seizure = {
        "type": "object",
        "additionalProperties": False,
        "required": ["alert_id", "date", "threat_category", "severity"],
        "properties": {
            "alert_id": alert_id,
            "date": DATE_FORMAT,
            "threat_category": {"enum": list(FINDING_CATEGORIES)},
            "severity": severity,
            "port": {"type": "string", "pattern": LOCODE_PATTERN},
            "hs_code": {"type": "string", "pattern": r"^\d{4,10}$"},
            "commodity": _text(500),
            "route": route,
            "mode": _text(20),
            "concealment": _nullable(_text(200)),
            "detection_method": _text(100),
            "shipper": _party(),
            "consignee": _party(),
        },
    }
    party_alert = {
        "type": "object",
        "additionalProperties": False,
        "required": ["alert_id", "name", "role", "why", "severity"],
        "properties": {
            "alert_id": alert_id,
            "name": _text(),
            "pseudonymised": {"type": "boolean"},
            "countries": {
                "type": "array",
                "items": {"type": "string", "pattern": COUNTRY_PATTERN},
            },
            "role": {"enum": ["shipper", "consignee", "any"]},
            "why": _text(500),
            "severity": severity,
            "threat_category": {"enum": list(FINDING_CATEGORIES)},
            "related_seizure": alert_id,
        },
    }
    indicator = {
        "type": "object",
        "additionalProperties": False,
        "required": ["alert_id", "hs_prefix", "threat_category", "why", "severity"],
        "properties": {
            "alert_id": alert_id,
            "hs_prefix": {"type": "string", "pattern": r"^\d{2,10}$"},
            "origin": _nullable({"type": "string", "pattern": COUNTRY_PATTERN}),
            "dispatch": _nullable({"type": "string", "pattern": COUNTRY_PATTERN}),
            "threat_category": {"enum": list(threats.NAMES)},
            "why": _text(500),
            "severity": severity,
            "related_seizure": alert_id,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cargo-risk alert bundle",
        "description": "Seizures, party alerts and commodity/route indicators one customs agency "
        "shares with a partner, signed with the issuer's Ed25519 key. See docs/alerts.md.",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "format",
            "format_version",
            "bundle_id",
            "issuer",
            "issued_on",
            "expires_on",
            "period",
            "seizures",
            "party_alerts",
            "indicators",
            "signature",
        ],
        "properties": {
            "format": {"const": FORMAT},
            "format_version": {"type": "string", "pattern": r"^1\.\d+$"},
            "bundle_id": {"type": "string", "pattern": r"^[a-z0-9-]+-\d{8}-[0-9a-f]{12}$"},
            "issuer": {"type": "string", "pattern": ISSUER_PATTERN, "maxLength": 31},
            "recipient": _nullable({"type": "string", "pattern": ISSUER_PATTERN}),
            "issued_on": DATE_FORMAT,
            "expires_on": DATE_FORMAT,
            "period": {
                "type": "object",
                "additionalProperties": False,
                "required": ["from", "to"],
                "properties": {"from": DATE_FORMAT, "to": DATE_FORMAT},
            },
            "pseudonymised": {"type": "boolean"},
            "seizures": {"type": "array", "items": seizure},
            "party_alerts": {"type": "array", "items": party_alert},
            "indicators": {"type": "array", "items": indicator},
            "signature": {
                "type": "object",
                "additionalProperties": False,
                "required": ["algorithm", "key_id", "value"],
                "properties": {
                    "algorithm": {"const": SIGNATURE_ALGORITHM},
                    "key_id": {"type": "string", "pattern": r"^[0-9a-f]{16}$"},
                    "value": {"type": "string", "pattern": r"^[A-Za-z0-9+/]{86}==$"},
                },
            },
        },
    }
