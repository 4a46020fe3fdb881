"""Presets and disguise families: a space of worlds to measure detection on, not one world.

A preset is a region's trade: discharge ports, shipper countries, volumes, base threat rate and the
legacy inspection policy that labelled its history. A disguise family is a group of threat
scenarios that hide in one way (clean traders, ordinary wording, split consignments...). Families
are tagged `tuning` (features, hyper-parameters and policy may be chosen on them) or `held_out`
(figures that matter are reported on them, and nothing is tuned on them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.threats import DEFAULT_SCENARIOS
from simulator.world import LegacyPolicy, WorldParameters

Split = Literal["tuning", "held_out"]


@dataclass(frozen=True)
class Preset:
    """A region's trade; `parameters` override WorldParameters' defaults."""

    name: str
    summary: str
    per_day: int
    """Declaration rows a day the preset is meant for (the simulate default when chosen)."""
    threat_rate: float
    parameters: dict[str, Any] = field(default_factory=dict)

    def world_parameters(self) -> WorldParameters:
        """The checked world parameters of this preset."""
        return WorldParameters.model_validate({**self.parameters, "threat_rate": self.threat_rate})


@dataclass(frozen=True)
class DisguiseFamily:
    """Threat scenarios that hide the same way."""

    name: str
    split: Split
    summary: str
    scenarios: tuple[str, ...]


_EAST_AFRICA_SHIPPERS = {
    "CN": 30, "IN": 14, "AE": 12, "ZA": 5, "JP": 4, "SA": 4, "TR": 4, "US": 3, "GB": 3, "DE": 3,
    "MY": 3, "PK": 3, "SG": 2, "TH": 2, "ID": 2, "EG": 2, "KR": 2, "NL": 2, "IT": 2, "OM": 2,
    "HK": 2,
}  # fmt: skip
_GULF_SHIPPERS = {
    "CN": 25, "IN": 15, "US": 6, "JP": 5, "DE": 5, "KR": 4, "GB": 3, "TR": 4, "IT": 3, "PK": 3,
    "SA": 3, "VN": 3, "TH": 2, "MY": 2, "SG": 2, "FR": 2, "BR": 2, "ID": 2, "HK": 2, "IR": 1,
    "RU": 1, "EG": 1,
}  # fmt: skip
_SOUTH_AMERICA_SHIPPERS = {
    "CN": 28, "US": 18, "BR": 6, "DE": 5, "IN": 4, "MX": 4, "JP": 3, "KR": 3, "IT": 3, "ES": 3,
    "CO": 2, "PE": 2, "FR": 2, "VN": 2, "TW": 2, "TH": 2, "CA": 2, "TR": 1, "MY": 1, "GB": 1,
}  # fmt: skip

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "eu-default",
            "North-west European gateways (NLRTM, BEANR, DEHAM; NLAMS, DEFRA, BELGG), the shipped "
            "default: imports weighted like EU partners, rules on strategic codes, risky countries "
            "and generic words, 1 % capacity plus 0.3 % random.",
            per_day=2000,
            threat_rate=1 / 5000,
        ),
        Preset(
            "east-africa",
            "Mombasa, Dar es Salaam and Lamu by sea, Nairobi and Dar es Salaam by air; Asian and "
            "Gulf suppliers; old rules on strategic headings, UN class 7 and heavy parcels, 1 % "
            "capacity, 0.5 % random.",
            per_day=600,
            threat_rate=0.004,
            parameters={
                "shippers": 1500,
                "consignees": 900,
                "declarants": 25,
                "discharge_sea": ("KEMBA", "TZDAR", "KELAU"),
                "discharge_air": ("KENBO", "TZDAR"),
                "shipper_countries": _EAST_AFRICA_SHIPPERS,
                "transshipment_sea": 0.5,
                "random_quota": 0.005,
                "legacy": LegacyPolicy(
                    sensitive_hs=r"^(93|2812|2844|2845|2920|2930|8401|8456|8457|8458|8543|9022)",
                    risky_countries=("SO", "SS", "SD", "YE", "IR", "KP", "SY", "LY"),
                    weights={
                        "sensitive_hs": 3,
                        "radioactive_un": 3,
                        "risky_country": 1,
                        "dense_parcel": 1,
                    },
                ),
            },
        ),
        Preset(
            "gulf-hub",
            "A Gulf hub (Jebel Ali, Khalifa, Sohar; Dubai and Dubai World Central by air): heavy "
            "Asian traffic, some Iranian and Russian shippers; rules favour low values and "
            "sensitive codes, 1.5 % capacity, 0.5 % random.",
            per_day=1500,
            threat_rate=0.003,
            parameters={
                "shippers": 3000,
                "consignees": 2000,
                "declarants": 40,
                "discharge_sea": ("AEJEA", "AEKLF", "OMSOH"),
                "discharge_air": ("AEDXB", "AEDWC"),
                "shipper_countries": _GULF_SHIPPERS,
                "transshipment_sea": 0.2,
                "inspection_capacity": 0.015,
                "random_quota": 0.005,
                "legacy": LegacyPolicy(
                    sensitive_hs=r"^(93|2844|2845|2812|2920|2930|8401|8543|9013)",
                    risky_countries=("IR", "KP", "SY", "YE", "IQ", "AF", "SD", "SO"),
                    weights={
                        "sensitive_hs": 3,
                        "very_low_value": 2,
                        "risky_country": 1,
                        "generic_words": 1,
                    },
                ),
            },
        ),
        Preset(
            "south-america",
            "Santos, Buenos Aires and San Antonio by sea, Sao Paulo, Ezeiza and Santiago by air; "
            "Chinese and US suppliers; rules on arms chapters, generic words and heavy parcels, "
            "0.8 % capacity, 0.1 % random.",
            per_day=800,
            threat_rate=0.005,
            parameters={
                "shippers": 2000,
                "consignees": 1200,
                "declarants": 30,
                "discharge_sea": ("BRSSZ", "ARBUE", "CLSAI"),
                "discharge_air": ("BRGRU", "AREZE", "CLSCL"),
                "shipper_countries": _SOUTH_AMERICA_SHIPPERS,
                "transshipment_sea": 0.25,
                "inspection_capacity": 0.008,
                "random_quota": 0.001,
                "legacy": LegacyPolicy(
                    sensitive_hs=r"^(93|36|2844|8401)",
                    risky_countries=("VE", "IR", "KP", "SY", "RU"),
                    weights={"sensitive_hs": 3, "generic_words": 2, "dense_parcel": 2},
                ),
            },
        ),
    )
}

DISGUISES: dict[str, DisguiseFamily] = {
    f.name: f
    for f in (
        DisguiseFamily(
            "tell-tale",
            "tuning",
            "The first six scenarios: vague or misfitting words, new or front consignees, "
            "dense parcels, hubs.",
            DEFAULT_SCENARIOS,
        ),
        DisguiseFamily(
            "clean-traders",
            "tuning",
            "Established traders with clean histories, the goods inside their own line of "
            "business; only the route, the packing or the value tells.",
            ("salw-via-established-trader", "dual-use-in-line-of-business"),
        ),
        DisguiseFamily(
            "split-consignments",
            "tuning",
            "One consignment spread over several small declarations the same day.",
            ("ammunition-split-consignments", "precursors-split-consignments"),
        ),
        DisguiseFamily(
            "ordinary-wording",
            "held_out",
            "The descriptions honest traders give goods of the declared code, and misdeclared "
            "codes in common chapters.",
            ("salw-ordinary-wording", "cbrn-misdeclared-common-codes"),
        ),
        DisguiseFamily(
            "hub-laundering",
            "held_out",
            "Goods re-invoiced through a hub that declares itself the origin, and under-valued "
            "dual-use goods.",
            ("salw-hub-laundering", "dual-use-undervalued"),
        ),
        DisguiseFamily(
            "listed-parties",
            "held_out",
            "UN-listed parties spelled as filing clerks type them, with ordinary goods wording.",
            ("listed-party-as-filed",),
        ),
        DisguiseFamily(
            "several-lines",
            "tuning",
            "One consignment declaring its controlled goods over several lines of one "
            "declaration (weapons and their ammunition, two precursors), in ordinary wording.",
            ("salw-kit-in-several-lines", "precursors-in-several-lines"),
        ),
        DisguiseFamily(
            "listed-mixed-cargo",
            "tuning",
            "A UN-listed trader, spelled as filers type it, with its controlled line among "
            "two to four ordinary lines of one declaration: the hold is on the whole consignment.",
            ("listed-trader-mixed-consignment",),
        ),
        DisguiseFamily(
            "listed-dual-use-cargo",
            "tuning",
            "As listed-mixed-cargo, but the controlled line is CBRN dual-use process equipment "
            "in ordinary codes, mostly off the strategic list: the model sees an ordinary line.",
            ("listed-trader-dual-use-consignment",),
        ),
    )
}


def preset(name: str) -> Preset:
    """A preset by name; the error lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def disguise_family(name: str) -> DisguiseFamily:
    """A disguise family by name; the error lists the known ones."""
    if name not in DISGUISES:
        raise ValueError(f"unknown disguise family {name!r}; families: {', '.join(DISGUISES)}")
    return DISGUISES[name]


def families_in(split: Split) -> tuple[str, ...]:
    """Names of the disguise families tagged `split`."""
    return tuple(f.name for f in DISGUISES.values() if f.split == split)
