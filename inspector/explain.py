"""What the item page says about an item: why it holds its rank, and its fields in plain words.

Pure functions over the published list of one port and one staging row, so the page and its
tests read the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

FIELD_LABELS = {
    "declaration_id": "Declaration",
    "item_no": "Item",
    "filed_at": "Filed at",
    "mode": "Transport mode",
    "port_of_loading": "Port of loading",
    "port_of_discharge": "Port of discharge",
    "transshipment_ports": "Transshipment ports",
    "expected_arrival": "Expected arrival",
    "country_of_origin": "Country of origin",
    "country_of_dispatch": "Country of dispatch",
    "shipper_id": "Shipper id",
    "shipper_name": "Shipper",
    "shipper_country": "Shipper's country",
    "consignee_id": "Consignee id",
    "consignee_name": "Consignee",
    "consignee_country": "Consignee's country",
    "declarant_id": "Declarant id",
    "carrier_code": "Carrier",
    "container_ids": "Containers",
    "hs_code": "HS code",
    "goods_description": "Goods description",
    "packages": "Packages",
    "gross_mass_kg": "Gross mass (kg)",
    "declared_value": "Declared value",
    "currency": "Currency",
    "un_number": "UN number (dangerous goods)",
}
"""Labels a reader at the port knows; a field not named here is shown by its name, tidied."""

PROVENANCE_LABELS = {
    "_source_file": "Source file",
    "_sha256": "File fingerprint (SHA-256)",
    "_line": "Line in the file",
    "_ingested_at": "Loaded at",
    "_row_error": "Reading error",
}


def field_label(name: str) -> str:
    """The label of a declaration field: the known one, else the name in words."""
    known = FIELD_LABELS.get(name) or PROVENANCE_LABELS.get(name)
    return known or name.lstrip("_").replace("_", " ").capitalize()


@dataclass(frozen=True)
class Fields:
    """A declaration row split for display: what it says, and where it came from."""

    shown: list[tuple[str, Any]]
    provenance: list[tuple[str, Any]]


def display_fields(detail: Mapping[str, Any]) -> Fields:
    """Fields with labels, in the contract's order; bookkeeping (`_...`) apart, for a fold."""
    shown = [(field_label(k), v) for k, v in detail.items() if not k.startswith("_")]
    provenance = [(field_label(k), v) for k, v in detail.items() if k.startswith("_")]
    return Fields(shown=shown, provenance=provenance)


@dataclass(frozen=True)
class RankExplanation:
    """Why an item holds its place on its port's list, in sentences."""

    kind: str
    """hold, rule, watchlist, random, risk or not selected."""
    headline: str
    position: str
    cutoffs: list[str]


def _hits(values: Sequence[str] | None) -> str:
    return ", ".join(values or []) or "none"


def _cutoff(port_rows: pl.DataFrame, lane: str, label: str, row: Mapping[str, Any]) -> str:
    """Where the last place of `lane` taken on risk fell, against this item."""
    by_risk = port_rows.filter((pl.col("lane") == lane) & (pl.col("selection_reason") == "risk"))
    if by_risk.is_empty():
        taken = port_rows.filter(pl.col("lane") == lane).height
        return (
            f"The {label} lane ({taken} items) was filled without ranking on risk: "
            "no place was left for a score to win."
        )
    last = by_risk.sort("rank").row(-1, named=True)
    return (
        f"The {label} lane's last place taken on risk was rank {last['rank']} at a risk of "
        f"{last['risk_score']:.3f}; this item's risk is {row['risk_score']:.3f}."
    )


def explain_rank(
    port_rows: pl.DataFrame, row: Mapping[str, Any], holds: Mapping[str, bool] | None = None
) -> RankExplanation:
    """Why `row` is where it is on `port_rows` (the whole list of its port and date).

    `holds` maps rule ids to whether the rule is a legal hold (from the night's selection
    summary); without it a rule-selected red item is called rule-lifted.
    """
    reason = row.get("selection_reason")
    lane = row["lane"]
    risk = f"{row['risk_score']:.3f}"
    rules = list(row.get("rule_hits") or [])
    forced = [r for r in rules if (holds or {}).get(r.split("@")[0], (holds or {}).get(r, False))]
    listed = _hits(row.get("watchlist_hits"))
    whatever = "which holds an item for inspection whatever its score."
    if reason == "watchlist" and lane == "red":
        kind, headline = "hold", f"Forced hold: it matches the watch list ({listed}), {whatever}"
    elif reason == "rule" and forced:
        named = ", ".join(forced)
        kind, headline = "hold", f"Forced hold: expert rule {named} is a legal hold, {whatever}"
    elif reason == "rule":
        kind = "rule"
        headline = (
            f"Rule-lifted: expert rule {_hits(rules)} fired, and the list ranks such hits by "
            f"how often the rule's past hits held a finding (model risk {risk})."
        )
    elif reason == "watchlist":
        kind = "watchlist"
        headline = (
            f"Lifted by a watch-list match ({listed}), ranked by how often such matches held "
            f"a finding (model risk {risk})."
        )
    elif reason == "random":
        kind = "random"
        headline = (
            "Drawn at random: the red lane's random slice, which keeps the measured finding "
            f"rates unbiased. Its risk ({risk}) did not decide."
        )
    elif reason == "risk":
        kind, headline = "risk", f"Ranked by risk: an expected chance of a finding of {risk}."
    else:
        kind, headline = "not selected", f"Not selected: risk {risk}, no rule or list hold."
    ports_items = port_rows.height
    position = f"Rank {row['rank']} of {ports_items} at {row['port_of_discharge']}."
    cutoffs = []
    if lane != "red":
        cutoffs.append(_cutoff(port_rows, "red", "red", row))
    if lane == "green":
        cutoffs.append(_cutoff(port_rows, "yellow", "yellow", row))
    return RankExplanation(kind=kind, headline=headline, position=position, cutoffs=cutoffs)
