"""Import: a partner's bundle, checked, kept, and turned into a watch list and rules at once.

A bundle that passes every check (pipelines/alerts/bundle.py) is kept whole under
`alerts/imported/<issuer>/<bundle_id>.json`; one that fails writes nothing. After each import the
partner inputs are rebuilt from every kept bundle:

- the party alerts in force on the day (issued on or before it, not expired) become the watch list
  `partner-<issuer>`, a version dated that day with the bundles as its sources and its provenance
  and earliest expiry in the manifest; the screening stage screens it like any other list, and a
  hit's reason names the list and the partner's alert id;
- the commodity and route indicators become rules `PARTNER-<ISSUER>-IN-...` in
  `alerts/rules/partner-<issuer>.yaml`, valid from the bundle's issue date to its expiry, which
  the rules stage evaluates beside the officers' rules; the hit's title names the partner alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from contracts import threats
from pipelines import layout
from pipelines.alerts.bundle import check_bundle, to_text
from pipelines.alerts.errors import AlertError
from pipelines.alerts.keys import keys_dir, load_partners
from pipelines.io import write_text
from pipelines.settings import Settings
from pipelines.watchlists.entries import LoadedList, entries_frame
from pipelines.watchlists.store import current_version, read_entries, store_list

LIST_PREFIX = "partner-"
RULE_PREFIX = "PARTNER"
RULE_WEIGHTS = {"low": 0.15, "medium": 0.3, "high": 0.5}
"""A partner indicator's rule weight (expected precision) by its severity: a lead that lifts the
rank, never a forced hold; the partner's party alerts are what holds."""


def imported_dir(settings: Settings) -> Path:
    return layout.alerts_home(settings) / "imported"


def own_name(settings: Settings) -> str | None:
    """This agency's issuer name once its keys exist (bundles addressed elsewhere are refused)."""
    identity = keys_dir(settings) / "identity.json"
    if not identity.is_file():
        return None
    name: str = json.loads(identity.read_text(encoding="utf-8"))["issuer"]
    return name


@dataclass
class ImportResult:
    """What one import did."""

    bundle: dict[str, Any]
    path: Path
    already_imported: bool
    lists: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, int] = field(default_factory=dict)


def import_bundle(settings: Settings, source: Path, on: date) -> ImportResult:
    """Check and keep the bundle in `source` as of day `on`, then rebuild the partner inputs.

    Raises AlertError with one line naming the file and the reason; nothing is written then.
    """
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertError(f"{source}: cannot read: {exc}") from None
    try:
        bundle = check_bundle(text, load_partners(settings), on, own_name(settings))
    except AlertError as exc:
        raise AlertError(f"{source}: refused: {exc}; nothing was imported") from None
    target = imported_dir(settings) / bundle["issuer"] / f"{bundle['bundle_id']}.json"
    already = target.is_file()
    if not already:
        write_text(to_text(bundle), target)
    lists, rules = refresh_partner_inputs(settings, on)
    return ImportResult(bundle, target, already, lists, rules)


def kept_bundles(settings: Settings) -> dict[str, list[tuple[dict[str, Any], Path]]]:
    """Every kept bundle by issuer, oldest issue first (ties by bundle id)."""
    found: dict[str, list[tuple[dict[str, Any], Path]]] = {}
    folder = imported_dir(settings)
    if not folder.is_dir():
        return found
    for issuer_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        bundles = [
            (json.loads(path.read_text(encoding="utf-8")), path)
            for path in sorted(issuer_dir.glob("*.json"))
        ]
        bundles.sort(key=lambda b: (b[0]["issued_on"], b[0]["bundle_id"]))
        found[issuer_dir.name] = bundles
    return found


def _in_force(bundle: dict[str, Any], on: date) -> bool:
    return date.fromisoformat(bundle["issued_on"]) <= on <= date.fromisoformat(bundle["expires_on"])


def refresh_partner_inputs(
    settings: Settings, on: date
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rebuild every partner's watch list (as of `on`) and rule file from the kept bundles."""
    lists: list[dict[str, Any]] = []
    rules: dict[str, int] = {}
    kept = kept_bundles(settings)
    trusted = load_partners(settings)
    for issuer, all_bundles in kept.items():
        # A partner no longer trusted: its alerts leave the lists and rules.
        bundles = all_bundles if issuer in trusted else []
        manifest = _refresh_list(settings, issuer, [b for b in bundles if _in_force(b[0], on)], on)
        if manifest is not None:
            lists.append(manifest)
        rules[issuer] = _write_rules(settings, issuer, [b for b, _ in bundles])
    return lists, rules


def _party_rows(issuer: str, bundles: list[tuple[dict[str, Any], Path]], on: date) -> list[Any]:
    latest: dict[str, dict[str, Any]] = {}
    for bundle, _ in bundles:
        for alert in bundle["party_alerts"]:
            if not alert.get("pseudonymised"):  # a pseudonym cannot be screened
                latest[alert["alert_id"]] = {**alert, "_issued_on": bundle["issued_on"]}
    return [
        {
            "list_name": LIST_PREFIX + issuer,
            "list_version": on.isoformat(),
            "entry_id": alert["alert_id"],
            "name": alert["name"],
            "name_quality": "primary",
            "entity_type": "unknown",
            "nationality": [],
            "countries": alert.get("countries", []),
            "addresses": [],
            "program": f"partner alert from {issuer}: {alert['why']}",
            "listed_on": alert["_issued_on"],
        }
        for alert in latest.values()
    ]


def _refresh_list(
    settings: Settings, issuer: str, bundles: list[tuple[dict[str, Any], Path]], on: date
) -> dict[str, Any] | None:
    """Store a new version of the partner's list when what is in force changed; else None."""
    list_name = LIST_PREFIX + issuer
    entries = entries_frame(_party_rows(issuer, bundles, on))
    in_force = current_version(settings, list_name)
    if in_force is None and entries.is_empty():
        return None
    if in_force is not None:
        stored = read_entries(settings, list_name).drop("list_version")
        if stored.equals(entries.drop("list_version")):
            return None
    provenance = [
        {
            "bundle_id": b["bundle_id"],
            "issuer": b["issuer"],
            "key_id": b["signature"]["key_id"],
            "issued_on": b["issued_on"],
            "expires_on": b["expires_on"],
        }
        for b, _ in bundles
    ]
    expiries = [b["expires_on"] for b, _ in bundles]
    loaded = LoadedList(
        list_name,
        on.isoformat(),
        entries,
        [path for _, path in bundles],
        [f"party alerts of {issuer} in force on {on}, from {len(bundles)} signed bundle(s)"],
    )
    return store_list(
        loaded,
        settings,
        {"provenance": provenance, "expires_on": min(expiries) if expiries else None},
    )


def rule_id(issuer: str, alert_id: str) -> str:
    """`PARTNER-<ISSUER>-IN-<digest>`: a rule id shaped as features/rules.py wants."""
    return f"{RULE_PREFIX}-{issuer.upper()}-{alert_id}"


def _indicator_rules(issuer: str, bundles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for bundle in bundles:
        for alert in bundle["indicators"]:
            window = (
                date.fromisoformat(bundle["issued_on"]),
                date.fromisoformat(bundle["expires_on"]),
            )
            earlier = merged.get(alert["alert_id"])
            if earlier is not None:
                # One id, one rule: repeats in later bundles widen its window.
                window = (min(window[0], earlier["_from"]), max(window[1], earlier["_to"]))
            merged[alert["alert_id"]] = {**alert, "_from": window[0], "_to": window[1]}
    rules = []
    for alert in sorted(merged.values(), key=lambda a: a["alert_id"]):
        conditions: list[dict[str, Any]] = [
            {"field": "hs_code", "op": "startswith", "value": alert["hs_prefix"]}
        ]
        route = []
        for field_name, key in (
            ("country_of_origin", "origin"),
            ("country_of_dispatch", "dispatch"),
        ):
            if alert.get(key):
                conditions.append({"field": field_name, "op": "==", "value": alert[key]})
                route.append(f"{key} {alert[key]}")
        label = threats.by_name(alert["threat_category"]).label
        rules.append(
            {
                "id": rule_id(issuer, alert["alert_id"]),
                "version": 1,
                "title": f"partner alert {alert['alert_id']} from {issuer}: {label} HS "
                f"{alert['hs_prefix']}*" + (f", {', '.join(route)}" if route else ""),
                "description": alert["why"],
                "source": f"signed alert bundle(s) of partner agency {issuer}",
                "threat": alert["threat_category"],
                "weight": RULE_WEIGHTS[alert["severity"]],
                "owner": f"partner/{issuer}",
                "valid_from": alert["_from"],
                "valid_to": alert["_to"],
                "force": "none",
                "conditions": {"all": conditions},
            }
        )
    return rules


def _write_rules(settings: Settings, issuer: str, bundles: list[dict[str, Any]]) -> int:
    target = layout.partner_rules_dir(settings) / f"{LIST_PREFIX}{issuer}.yaml"
    rules = _indicator_rules(issuer, bundles)
    if not rules:
        target.unlink(missing_ok=True)
        return 0
    header = f"# Generated from the signed alert bundles of {issuer}; rebuilt on every import.\n"
    write_text(header + yaml.safe_dump(rules, sort_keys=False, allow_unicode=True), target)
    return len(rules)
