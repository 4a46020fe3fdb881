"""Tiny inline declarations, outcomes and reference tables for the feature tests (no tests here).

All values are made up for the tests; the ports' coordinates are round numbers, not real ones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from features.refs import References

BASE_ROW: dict[str, Any] = {
    "declaration_id": "D1",
    "item_no": 1,
    "mode": "sea",
    "port_of_loading": "AAPOL",
    "port_of_discharge": "NLPOD",
    "transshipment_ports": None,
    "expected_arrival": None,
    "country_of_origin": "CN",
    "country_of_dispatch": "CN",
    "shipper_id": "S1",
    "shipper_name": "Shipper One",
    "shipper_country": "CN",
    "consignee_id": "C1",
    "consignee_name": "Consignee One",
    "consignee_country": "NL",
    "declarant_id": "B1",
    "carrier_code": None,
    "container_ids": None,
    "hs_code": "940360",
    "goods_description": "wooden furniture",
    "packages": 4,
    "gross_mass_kg": 100.0,
    "declared_value": 1000.0,
    "currency": "USD",
    "un_number": None,
}


def refs() -> References:
    """Four ports on the equator / a meridian, three HS-6 codes, a strategic list, two rates."""
    return References(
        locations=pl.DataFrame(
            {
                "locode": ["AAPOL", "BBHUB", "CCHUB", "NLPOD", "ZZNOC"],
                "lat": [0.0, 0.0, 10.0, 0.0, None],
                "lon": [0.0, 10.0, 10.0, 20.0, None],
            }
        ),
        hs6=pl.DataFrame(
            {
                "hs6": ["940360", "930200", "281211"],
                "description": [
                    "Furniture; wooden, n.e.c. in heading 9403",
                    "Revolvers and pistols, other than those of heading 9303 or 9304",
                    "Carbonyl dichloride (phosgene)",
                ],
            }
        ),
        strategic_hs=pl.DataFrame(
            {
                "hs_prefix": ["9302", "930200", "281211"],
                "threat": ["military", "salw", "cbrn"],
                "category": ["test_prefix", "test_arms", "test_chemical"],
            }
        ),
        currency_rates=pl.DataFrame({"currency": ["USD", "EUR"], "units_per_usd": [1.0, 0.5]}),
    )


def filed_at(day: date, hour: int = 10) -> datetime:
    """A filing time on `day` (UTC)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def declarations(day: date, *changes: dict[str, Any]) -> pl.DataFrame:
    """One row per `changes` dict, each BASE_ROW with the changes, filed on `day`."""
    rows = [BASE_ROW | {"filed_at": filed_at(day)} | change for change in changes]
    return pl.DataFrame(rows, schema=DECLARATIONS.polars_schema)


def outcomes(day: date, *changes: dict[str, Any]) -> pl.DataFrame:
    """Inspections made on `day` (no finding unless a change says so)."""
    base = {
        "declaration_id": "D1",
        "item_no": None,
        "inspected_at": filed_at(day, 15),
        "selection_reason": "random",
        "result": "no_finding",
        "finding_category": None,
        "inspector_id": "I1",
        "notes": None,
    }
    return pl.DataFrame([base | c for c in changes], schema=OUTCOMES.polars_schema)


Partitions = dict[date, pl.DataFrame]
"""Frames by partition date."""


def world(first: date, days: int, per_day: int = 6) -> tuple[Partitions, Partitions]:
    """A small deterministic world: declarations per filing day and inspections per day.

    Parties, hubs and HS codes recur across days; every third item is inspected two days after
    filing (some whole declarations, some single items), every fifth inspection finds something.
    """
    filed: dict[date, pl.DataFrame] = {}
    checked: dict[date, list[dict[str, Any]]] = {}
    hs_codes = ["940360", "930200", "281211"]
    counter = 0
    for offset in range(days):
        day = first + timedelta(days=offset)
        rows = []
        for _ in range(per_day):
            counter += 1
            rows.append(
                {
                    "declaration_id": f"D{counter // 2}",
                    "item_no": 1 + counter % 2,
                    "shipper_id": f"S{counter % 4}",
                    "consignee_id": f"C{counter % 3}",
                    "declarant_id": None if counter % 5 == 0 else f"B{counter % 2}",
                    "transshipment_ports": [["BBHUB"], [], ["CCHUB", "BBHUB"]][counter % 3],
                    "hs_code": hs_codes[counter % 3],
                    "declared_value": float(100 * (1 + counter % 7)),
                    "currency": ["USD", "EUR"][counter % 2],
                }
            )
            if counter % 3 == 0:
                inspect_day = day + timedelta(days=2)
                checked.setdefault(inspect_day, []).append(
                    {
                        "declaration_id": f"D{counter // 2}",
                        "item_no": None if counter % 2 else 1 + counter % 2,
                        "inspected_at": filed_at(inspect_day, 15),
                        "result": "finding" if counter % 15 == 0 else "no_finding",
                        "finding_category": ("cbrn" if counter % 2 else "salw")
                        if counter % 15 == 0
                        else None,
                    }
                )
        filed[day] = declarations(day, *rows)
    return filed, {d: outcomes(d, *rows) for d, rows in checked.items()}
