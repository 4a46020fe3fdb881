"""A small home folder with published lists, staging declarations and past outcomes.

Made, not shipped: the tests and a first look at the app use it when no nightly run has
published anything. Grain as in the contracts: one ranked-list row per declaration item scored in
one run, one staging row per declaration item, one outcome row per inspection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from contracts import threats
from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.ranked_list import RANKED_LIST
from pipelines import layout
from pipelines.io import write_parquet
from pipelines.publish import publish_lists

PORTS = ("NLRTM", "SGSIN")
ITEMS_PER_PORT = 12
_SHIPPERS = ("SHP-ALPHA", "SHP-BRAVO", "SHP-CHARLIE")
_CONSIGNEES = ("CNE-DELTA", "CNE-ECHO")
_GOODS = (
    ("930120", "Rocket launcher parts, machined"),
    ("281210", "Phosphorus trichloride in drums"),
    ("940360", "Wooden office furniture"),
    ("871200", "Bicycles, unassembled"),
)


@dataclass(frozen=True)
class SampleHome:
    """What was written: the home, the list date and its earlier staging dates."""

    home: Path
    day: date
    history_days: tuple[date, ...]


def declaration_id(port: str, day: date, n: int) -> str:
    """The sample's declaration id of item list position `n` at `port` on `day`."""
    return f"{port}-{day:%Y%m%d}-{n:03d}"


def _declaration(port: str, day: date, n: int) -> dict[str, Any]:
    hs_code, goods = _GOODS[n % len(_GOODS)]
    return {
        "declaration_id": declaration_id(port, day, n),
        "item_no": 1,
        "filed_at": datetime.combine(day, time(8, n % 60), tzinfo=UTC),
        "mode": "sea",
        "port_of_loading": "CNSHA",
        "port_of_discharge": port,
        "transshipment_ports": ["AEJEA"] if n % 3 == 0 else [],
        "expected_arrival": day + timedelta(days=12),
        "country_of_origin": "CN",
        "country_of_dispatch": "CN",
        "shipper_id": _SHIPPERS[n % len(_SHIPPERS)],
        "shipper_name": f"Sample Shipper {n % len(_SHIPPERS)} Ltd",
        "shipper_country": "CN",
        "consignee_id": _CONSIGNEES[n % len(_CONSIGNEES)],
        "consignee_name": f"Sample Consignee {n % len(_CONSIGNEES)} BV",
        "consignee_country": "NL" if port == "NLRTM" else "SG",
        "declarant_id": None,
        "carrier_code": "MAEU",
        "container_ids": [],
        "hs_code": hs_code,
        "goods_description": goods,
        "packages": 1 + n,
        "gross_mass_kg": 100.0 + 10 * n,
        "declared_value": 1000.0 + 50 * n,
        "currency": "USD",
        "un_number": "1809" if hs_code == "281210" else None,
    }


def _declarations(day: date) -> pl.DataFrame:
    rows = [_declaration(port, day, n) for port in PORTS for n in range(1, ITEMS_PER_PORT + 1)]
    return pl.DataFrame(rows, schema=DECLARATIONS.polars_schema)


def _ranked(day: date) -> pl.DataFrame:
    rows = []
    lanes = {1: ("red", "risk"), 2: ("red", "rule"), 3: ("red", "random"), 4: ("yellow", "risk")}
    lanes[5] = ("yellow", "watchlist")
    for port in PORTS:
        for n in range(1, ITEMS_PER_PORT + 1):
            lane, reason = lanes.get(n, ("green", None))
            risk = round(0.9 - 0.07 * n, 3)
            rows.append(
                {
                    "list_date": day,
                    "port_of_discharge": port,
                    "rank": n,
                    "declaration_id": declaration_id(port, day, n),
                    "item_no": 1,
                    "risk_score": max(risk, 0.01),
                    # Each category a share of the risk, the last one the largest.
                    **{
                        t.score_column: round(max(risk, 0.01) / (len(threats.THREATS) + 1 - i), 3)
                        for i, t in enumerate(threats.THREATS)
                    },
                    "lane": lane,
                    "selection_reason": reason,
                    "reasons": None
                    if lane == "green"
                    else f"new consignee, first seen {n} days ago; HS {_GOODS[n % 4][0][:4]}",
                    "rule_hits": ["SALW-001@1"] if reason == "rule" else [],
                    "watchlist_hits": ["un:QDe.115"] if reason == "watchlist" else [],
                    "model_version": "sample.1",
                    "run_id": f"sample-{day}",
                }
            )
    return pl.DataFrame(rows, schema=RANKED_LIST.polars_schema)


def _past_outcomes(days: tuple[date, ...]) -> dict[date, pl.DataFrame]:
    """One inspection per day at each port: the first item, found (SALW) on the first day."""
    found = {}
    for index, day in enumerate(days):
        rows = [
            {
                "declaration_id": declaration_id(port, day, 1),
                "item_no": None,
                "inspected_at": datetime.combine(day, time(15), tzinfo=UTC),
                "selection_reason": "risk",
                "result": "finding" if index == 0 else "no_finding",
                "finding_category": "salw" if index == 0 else None,
                "inspector_id": "sample.inspector",
                "notes": None,
            }
            for port in PORTS
        ]
        found[day] = pl.DataFrame(rows, schema=OUTCOMES.polars_schema)
    return found


def build_sample_home(home: Path, day: date, history: int = 2) -> SampleHome:
    """Write lists for `day` and staging declarations for it and the `history` days before."""
    earlier = tuple(day - timedelta(days=k) for k in range(history, 0, -1))
    staging = home / "staging"
    for each in (*earlier, day):
        write_parquet(
            _declarations(each),
            layout.partition(staging / "declarations", each) / layout.DECLARATIONS_FILE,
        )
    for each, outcomes in _past_outcomes(earlier).items():
        write_parquet(outcomes, layout.partition(staging / "outcomes", each) / layout.OUTCOMES_FILE)
    publish_lists(_ranked(day), home / "lists", day)
    return SampleHome(home=home, day=day, history_days=earlier)
