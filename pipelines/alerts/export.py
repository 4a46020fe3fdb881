"""Export: the findings of a period -> one signed alert bundle under a partner's sharing policy.

A finding is a staged inspection outcome with result `finding`, joined with the staged declaration
items it names (every item of the declaration when the outcome names none). Each becomes a
seizure record (grain: one declaration item found in one inspection); the shipper of each seizure
becomes a party alert (the consignor whose next shipment a partner should look at), and its HS
subheading with its origin and dispatch countries becomes a commodity/route indicator. Alert ids
are digests of what they describe, so a rerun or an overlapping period gives the same ids and the
partner merges repeats.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from contracts import threats
from contracts.alerts import FORMAT, FORMAT_VERSION
from pipelines import layout
from pipelines.alerts.bundle import signed, to_text
from pipelines.alerts.errors import AlertError
from pipelines.alerts.keys import Identity, SharingPolicy
from pipelines.io import write_text
from pipelines.settings import Settings

DECLARATION_COLUMNS = (
    "declaration_id",
    "item_no",
    "mode",
    "port_of_loading",
    "port_of_discharge",
    "transshipment_ports",
    "country_of_origin",
    "country_of_dispatch",
    "shipper_name",
    "shipper_country",
    "consignee_name",
    "consignee_country",
    "hs_code",
    "goods_description",
)
DETECTION = {
    "risk": "risk targeting (model score)",
    "rule": "risk profile (expert rule)",
    "watchlist": "watch-list screening",
    "random": "random control",
    "manual": "officer's own selection",
}
"""How the finding was detected, from the outcome's selection reason."""


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:12].upper()


def findings(settings: Settings, start: date, end: date) -> pl.DataFrame:
    """Findings inspected from `start` to `end` (both included), joined with their items.

    Grain: one row per (inspection, declaration item). Empty when nothing was found.
    """
    outcome_files = [
        path
        for day, path in layout.partition_files(
            layout.staged_outcomes(settings), layout.OUTCOMES_FILE
        )
        if start <= day <= end
    ]
    declaration_files = [
        path
        for _, path in layout.partition_files(
            layout.staged_declarations(settings), layout.DECLARATIONS_FILE
        )
    ]
    if not outcome_files or not declaration_files:
        return pl.DataFrame()
    found = (
        pl.scan_parquet(outcome_files)
        .filter(pl.col("result") == "finding")
        .select("declaration_id", "item_no", "inspected_at", "selection_reason", "finding_category")
        .collect()
    )
    if found.is_empty():
        return pl.DataFrame()
    items = (
        pl.scan_parquet(declaration_files)
        .select(DECLARATION_COLUMNS)
        .filter(pl.col("declaration_id").is_in(found["declaration_id"].unique().implode()))
        .unique(["declaration_id", "item_no"], keep="last")
        .collect()
    )
    by_item = found.filter(pl.col("item_no").is_not_null()).join(
        items, on=["declaration_id", "item_no"], how="inner"
    )
    whole = (
        found.filter(pl.col("item_no").is_null())
        .drop("item_no")
        .join(items, on="declaration_id", how="inner")
    )
    return pl.concat([by_item, whole.select(by_item.columns)]).sort(
        "inspected_at", "declaration_id", "item_no"
    )


def seizure_severity(category: str) -> str:
    """A finding of a targeted threat category is high; any other offence medium."""
    return "high" if category in threats.NAMES else "medium"


class _Pseudonyms:
    """Party names replaced by a digest keyed with the agency's private key: the same name gets
    the same pseudonym in every bundle (so a partner can ask about it), but cannot be reversed
    or screened."""

    def __init__(self, identity: Identity) -> None:
        raw = identity.private_key.private_bytes_raw()
        self._key = hashlib.sha256(b"cargo-risk pseudonyms|" + raw).digest()

    def __call__(self, name: str) -> str:
        folded = " ".join(name.upper().split())
        return "pseud:" + hmac.new(self._key, folded.encode(), hashlib.sha256).hexdigest()[:20]


def _party(name: str | None, country: str | None, hide: _Pseudonyms | None) -> dict[str, Any]:
    shown = hide(name or "") if hide else name
    party: dict[str, Any] = {"name": shown, "country": country}
    if hide:
        party["pseudonymised"] = True
    return party


def _seizure(
    row: dict[str, Any], policy: SharingPolicy, hide: _Pseudonyms | None
) -> dict[str, Any]:
    category = row["finding_category"] or "other"
    full: dict[str, Any] = {
        "port": row["port_of_discharge"],
        "hs_code": row["hs_code"],
        "commodity": row["goods_description"],
        "route": {
            "origin": row["country_of_origin"],
            "dispatch": row["country_of_dispatch"],
            "loading_port": row["port_of_loading"],
            "transshipment_ports": list(row["transshipment_ports"] or []),
            "destination": row["port_of_discharge"][:2],
        },
        "mode": row["mode"],
        # The outcomes contract records no concealment method yet: sent as unknown.
        "concealment": None,
        "detection_method": DETECTION.get(row["selection_reason"], "inspection"),
        "shipper": _party(row["shipper_name"], row["shipper_country"], hide),
        "consignee": _party(row["consignee_name"], row["consignee_country"], hide),
    }
    return {
        "alert_id": "SZ-" + _digest(row["declaration_id"], row["item_no"], row["inspected_at"]),
        "date": row["inspected_at"].date().isoformat(),
        "threat_category": category,
        "severity": seizure_severity(category),
        **{name: value for name, value in full.items() if name in policy.fields},
    }


def build_bundle(
    rows: pl.DataFrame,
    identity: Identity,
    policy: SharingPolicy,
    *,
    start: date,
    end: date,
    issued_on: date,
    valid_days: int,
    recipient: str | None,
) -> dict[str, Any]:
    """The signed bundle of the finding rows the policy lets out."""
    hide = _Pseudonyms(identity) if policy.pseudonymise else None
    seizures: list[dict[str, Any]] = []
    parties: dict[str, dict[str, Any]] = {}
    indicators: dict[str, dict[str, Any]] = {}
    for row in rows.iter_rows(named=True) if rows.height else []:
        category = row["finding_category"] or "other"
        if category not in policy.categories or not policy.lets_out(seizure_severity(category)):
            continue
        seizure = _seizure(row, policy, hide)
        seizures.append(seizure)
        sid, severity = seizure["alert_id"], seizure["severity"]
        summary = f"{category} finding, HS {row['hs_code']}, {row['inspected_at'].date()}"
        if policy.party_alerts and row["shipper_name"]:
            party = _party(row["shipper_name"], row["shipper_country"], hide)
            pid = "PA-" + _digest("shipper", party["name"], party["country"])
            parties.setdefault(
                pid,
                {
                    "alert_id": pid,
                    "name": party["name"],
                    **({"pseudonymised": True} if hide else {}),
                    "countries": [party["country"]] if party["country"] else [],
                    "role": "shipper",
                    "why": f"shipper of seizure {sid} ({summary})",
                    "severity": severity,
                    "threat_category": category,
                    "related_seizure": sid,
                },
            )
        if policy.indicators and category in threats.NAMES and row["hs_code"]:
            prefix = row["hs_code"][:6]
            origin, dispatch = row["country_of_origin"], row["country_of_dispatch"]
            iid = "IN-" + _digest(prefix, origin, dispatch, category)
            indicators.setdefault(
                iid,
                {
                    "alert_id": iid,
                    "hs_prefix": prefix,
                    "origin": origin,
                    "dispatch": dispatch,
                    "threat_category": category,
                    "why": f"route and commodity of seizure {sid} ({summary})",
                    "severity": severity,
                    "related_seizure": sid,
                },
            )
    content = {
        "seizures": seizures,
        "party_alerts": sorted(parties.values(), key=lambda a: a["alert_id"]),
        "indicators": sorted(indicators.values(), key=lambda a: a["alert_id"]),
    }
    digest = hashlib.sha256(
        repr((identity.issuer, recipient, start, end, issued_on, valid_days, content)).encode()
    ).hexdigest()[:12]
    bundle = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "bundle_id": f"{identity.issuer}-{issued_on:%Y%m%d}-{digest}",
        "issuer": identity.issuer,
        "recipient": recipient,
        "issued_on": issued_on.isoformat(),
        "expires_on": (issued_on + timedelta(days=valid_days)).isoformat(),
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "pseudonymised": policy.pseudonymise,
        **content,
    }
    return signed(bundle, identity)


def export_bundle(
    settings: Settings,
    identity: Identity,
    policy: SharingPolicy,
    out: Path,
    *,
    start: date,
    end: date,
    issued_on: date | None = None,
    valid_days: int | None = None,
    recipient: str | None = None,
) -> dict[str, Any]:
    """Write the signed bundle of the findings of `start`..`end` to `out` (atomically)."""
    if end < start:
        raise AlertError(f"period {start} .. {end}: the end is before the start")
    bundle = build_bundle(
        findings(settings, start, end),
        identity,
        policy,
        start=start,
        end=end,
        issued_on=issued_on or end,
        valid_days=valid_days or settings.alerts_valid_days,
        recipient=recipient,
    )
    write_text(to_text(bundle), out)
    return bundle


def bundle_summary(bundle: dict[str, Any]) -> dict[str, Any]:
    """Counts and dates of a bundle, for a command's output or a task's XCom."""
    return {
        "bundle_id": bundle["bundle_id"],
        "issuer": bundle["issuer"],
        "recipient": bundle.get("recipient"),
        "issued_on": bundle["issued_on"],
        "expires_on": bundle["expires_on"],
        "seizures": len(bundle["seizures"]),
        "party_alerts": len(bundle["party_alerts"]),
        "indicators": len(bundle["indicators"]),
    }
