"""The synthetic world: reference data, traders, ports and the parameters that shape daily trade.

A world is built once from a seed and reused for every day; each day then draws its own traffic
from its own random stream, so days can be generated in any order with identical results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from simulator.goods import Catalogue, build_catalogue
from simulator.routes import PortBook, build_port_book
from simulator.threats import Scenario, load_scenarios
from simulator.traders import CONSIGNEE, DECLARANT, SHIPPER, Traders, build_traders

# Relative share of declarations by the shipper's country (imports into the home countries).
SHIPPER_COUNTRIES: dict[str, float] = {
    "CN": 30, "US": 8, "TR": 5, "IN": 5, "GB": 5, "VN": 5, "KR": 4, "JP": 3, "TW": 3, "CH": 3,
    "HK": 2, "AE": 2, "MY": 2, "TH": 2, "ID": 2, "BD": 2, "BR": 2, "SG": 1.5, "CA": 1.5, "MX": 1,
    "PK": 1, "ZA": 1, "IL": 1, "EG": 1, "MA": 1, "AU": 1, "SA": 1, "NO": 1, "LK": 0.5, "RU": 0.3,
}  # fmt: skip


class LegacyPolicy(BaseModel):
    """What the old selection rules look at and how much each counts (simulator/inspections.py).

    A rule with weight 0 is not used. Capacity and the random share are world parameters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitive_hs: str = r"^(93|2844|2845|2812|2930|2931|8401)"
    """Regular expression on the HS code: the chapters and headings the old rules call strategic."""
    risky_countries: tuple[str, ...] = (
        "IR", "KP", "SY", "RU", "BY", "AF", "LY", "YE", "SD", "MM", "VE", "PK",
    )  # fmt: skip
    generic_words: str = (
        r"(?i)\b(samples?|spare parts|general cargo|hardware|fasteners|no commercial value|"
        r"used .*equipment)\b"
    )
    low_value_share: float = Field(default=0.05, gt=0, description="Of the family's median.")
    dense_kg_per_package: float = Field(default=40.0, gt=0)
    weights: dict[str, int] = Field(
        default_factory=lambda: {
            "sensitive_hs": 3,
            "generic_words": 2,
            "risky_country": 2,
            "dense_parcel": 1,
            "very_low_value": 1,
        }
    )
    """How much each rule counts when a port's capacity is shared out. Rules: sensitive_hs,
    generic_words, risky_country, dense_parcel, very_low_value, radioactive_un (UN class 7)."""


class WorldParameters(BaseModel):
    """Everything that shapes the world besides the seed; written to truth/world.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shippers: int = Field(default=4000, ge=10)
    consignees: int = Field(default=3000, ge=10)
    declarants: int = Field(default=60, ge=2)
    discharge_sea: tuple[str, ...] = ("NLRTM", "BEANR", "DEHAM")
    discharge_air: tuple[str, ...] = ("NLAMS", "DEFRA", "BELGG")
    shipper_countries: dict[str, float] = Field(default_factory=lambda: dict(SHIPPER_COUNTRIES))
    yearly_churn: float = Field(
        default=0.15, ge=0, description="Share of traders that vanish per year."
    )
    mean_items: float = Field(default=1.8, ge=1, description="Mean goods items per declaration.")
    transshipment_sea: float = Field(default=0.35, ge=0, le=1)
    transshipment_air: float = Field(default=0.2, ge=0, le=1)
    regular_consignee: float = Field(
        default=0.85, ge=0, le=1, description="Share with a same-trade pair."
    )
    amendment_share: float = Field(
        default=0.01, ge=0, le=1, description="Declarations re-sent later."
    )
    invalid_share: float = Field(
        default=0.002, ge=0, le=0.5, description="Rows breaking the contract."
    )
    typo_share: float = Field(
        default=0.02, ge=0, le=1, description="Rows with a misspelt party name."
    )
    threat_rate: float = Field(default=1 / 5000, ge=0, le=0.5, description="Threat items per row.")
    weekday_factors: tuple[float, ...] = (1.1, 1.15, 1.15, 1.1, 1.0, 0.45, 0.3)
    inspection_capacity: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Rule-based inspections per port and day, share of items.",
    )
    random_quota: float = Field(default=0.003, ge=0, le=1, description="Random inspections, share.")
    detection_probability: float = Field(default=0.85, ge=0, le=1)
    legacy: LegacyPolicy = Field(default_factory=LegacyPolicy)
    scenarios: tuple[str, ...] | None = None
    """Scenario names or YAML paths; None loads every shipped scenario."""

    def volume_factor(self, day: date) -> float:
        """Relative volume of a day (mean 1): weekday effect times a mild yearly cycle."""
        season = 1.0 + 0.12 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 300) / 365.25)
        weekday = self.weekday_factors[day.weekday()] / float(np.mean(self.weekday_factors))
        return float(weekday * season)


@dataclass(frozen=True)
class ReferenceTables:
    """The reference frames the world draws codes from (contracts.reference)."""

    locations: pl.DataFrame
    hs6: pl.DataFrame
    countries: pl.DataFrame
    currency_rates: pl.DataFrame


def load_reference() -> ReferenceTables:
    """The project's shipped reference data."""
    from contracts import reference

    return ReferenceTables(
        locations=reference.locations(),
        hs6=reference.hs6(),
        countries=reference.countries(),
        currency_rates=reference.currency_rates(),
    )


@dataclass(frozen=True)
class World:
    """A built world: everything generate_day needs besides the day and its random stream."""

    seed: int
    start: date
    params: WorldParameters
    catalogue: Catalogue
    ports: PortBook
    traders: Traders
    scenarios: tuple[Scenario, ...]
    currencies: dict[str, str]
    """Country -> its currency when the rate table can convert it."""
    rates: dict[str, float]
    """Currency -> units per USD."""

    def day_index(self, day: date) -> int:
        """Days since the world's start (negative before it)."""
        return (day - self.start).days

    def describe(self) -> dict[str, Any]:
        """Seed and parameters as plain JSON values."""
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "parameters": self.params.model_dump(mode="json"),
            "scenarios": [s.model_dump(mode="json") for s in self.scenarios],
            "traders": {
                "shippers": int((self.traders.role == SHIPPER).sum()),
                "consignees": int((self.traders.role == CONSIGNEE).sum()),
                "declarants": int((self.traders.role == DECLARANT).sum()),
            },
        }


def build_world(
    seed: int,
    start: date,
    horizon_days: int = 365,
    *,
    params: WorldParameters | None = None,
    reference: ReferenceTables | None = None,
    scenarios: tuple[Scenario, ...] | None = None,
) -> World:
    """Build a world deterministically from a seed."""
    params = params or WorldParameters()
    reference = reference or load_reference()
    rng = np.random.default_rng([seed, 0])
    ports = build_port_book(
        reference.locations,
        list(params.shipper_countries),
        params.discharge_sea,
        params.discharge_air,
    )
    home = sorted({str(p)[:2] for p in (*ports.discharge_sea, *ports.discharge_air)})
    home_codes = np.array(home)
    shipper_codes = np.array(list(params.shipper_countries))
    shipper_weights = np.array(list(params.shipper_countries.values()), dtype=float)
    traders = build_traders(
        rng,
        {SHIPPER: params.shippers, CONSIGNEE: params.consignees, DECLARANT: params.declarants},
        {
            SHIPPER: (shipper_codes, shipper_weights),
            CONSIGNEE: (home_codes, np.ones(home_codes.size)),
            DECLARANT: (home_codes, np.ones(home_codes.size)),
        },
        horizon_days,
        params.yearly_churn,
    )
    rates = {
        str(c): float(r)
        for c, r in reference.currency_rates.select("currency", "units_per_usd").iter_rows()
    }
    known = set(rates)
    country_currency = {
        str(a): str(c)
        for a, c in reference.countries.select("alpha2", "currency").iter_rows()
        if a is not None and c in known
    }
    if scenarios is None:
        scenarios = load_scenarios(params.scenarios)
    return World(
        seed=seed,
        start=start,
        params=params,
        catalogue=build_catalogue(reference.hs6),
        ports=ports,
        traders=traders,
        scenarios=scenarios,
        currencies=country_currency,
        rates=rates,
    )
