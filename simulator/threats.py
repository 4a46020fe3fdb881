"""Threat scenarios: YAML files that say how often a threat comes and how it hides.

Grain of a scenario file: one kind of illicit shipment (one behaviour). Threat rows are drafted
with the same helpers as normal traffic, so nothing but their behaviour sets them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import threats
from simulator.drafts import (
    DeclarationDraft,
    ItemDraft,
    concat_items,
    draw_currencies,
    draw_routes,
    items_for_chapters,
)
from simulator.goods import FAMILIES
from simulator.names import name_variant
from simulator.traders import CONSIGNEE, DECLARANT, SHIPPER, company_name

if TYPE_CHECKING:
    from simulator.world import World

if TYPE_CHECKING:
    CategoryName = str
else:
    # A Literal built from the registry, so pydantic names the allowed categories in its error.
    CategoryName = Literal[threats.NAMES]
PartyKind = Literal["established", "new", "front", "watchlist"]
Mode = Literal["sea", "air", "post", "courier"]


_ESTABLISHED: dict[PartyKind, float] = {"established": 1.0}


class WatchlistEntry(BaseModel):
    """A real UN Security Council Consolidated List entry used as a disguised party."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    reference_number: str
    country: str = Field(pattern=r"^[A-Z]{2}$", description="Country the party claims to be in.")


class Scenario(BaseModel):
    """One threat behaviour and its relative frequency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    category: CategoryName
    summary: str
    frequency: float = Field(gt=0, description="Relative weight among the loaded scenarios.")
    hs_codes: tuple[str, ...] = Field(min_length=1)
    descriptions: tuple[str, ...] = Field(min_length=1)
    packages: tuple[int, int] = (1, 4)
    kg_per_package: tuple[float, float]
    usd_per_kg: tuple[float, float]
    modes: dict[Mode, float]
    shipper_countries: tuple[str, ...] = Field(min_length=1)
    origin_countries: tuple[str, ...] | None = None
    transshipment: float = Field(0.3, ge=0, le=1)
    hubs: tuple[str, ...] | None = None
    shipper: dict[PartyKind, float] = Field(default_factory=_ESTABLISHED.copy)
    consignee: dict[PartyKind, float] = Field(default_factory=_ESTABLISHED.copy)
    cover_items: tuple[int, int] = (0, 0)
    un_number: str | None = None
    watchlist: tuple[WatchlistEntry, ...] = ()
    finding_note: str = "undeclared controlled goods"


def shipped_scenario_paths() -> list[Path]:
    """The scenario YAML files that ship with the package, in name order."""
    folder = resources.files("simulator") / "scenarios"
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml"))


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; errors name the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read threat scenario: {error}") from error
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '(file)'}: {e['msg']}"
            for e in error.errors()
        )
        raise ValueError(f"{path}: not a valid threat scenario: {problems}") from error


def resolve_scenario(name_or_path: str) -> Scenario:
    """A scenario by shipped name (e.g. `cwc-precursors-to-front`) or by YAML path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return load_scenario(path)
    for shipped in shipped_scenario_paths():
        if shipped.stem == name_or_path:
            return load_scenario(shipped)
    names = ", ".join(p.stem for p in shipped_scenario_paths())
    raise ValueError(f"unknown scenario {name_or_path!r}; shipped scenarios: {names}")


def load_scenarios(names: tuple[str, ...] | None = None) -> tuple[Scenario, ...]:
    """Scenarios by name or path; every shipped scenario when `names` is None."""
    if names is None:
        return tuple(load_scenario(p) for p in shipped_scenario_paths())
    return tuple(resolve_scenario(n) for n in names)


@dataclass(frozen=True)
class Parties:
    """Candidate traders of one role: ids, names, countries and activity weights."""

    ids: np.ndarray
    names: np.ndarray
    countries: np.ndarray
    weights: np.ndarray

    def pick(self, rng: np.random.Generator, countries: tuple[str, ...] | None = None) -> int:
        """Index of one trader, weighted by activity, preferring the given countries."""
        pool = np.arange(self.ids.size)
        if countries:
            preferred = np.flatnonzero(np.isin(self.countries, np.array(countries)))
            if preferred.size:
                pool = preferred
        weights = self.weights[pool]
        return int(rng.choice(pool, p=weights / weights.sum()))


@dataclass(frozen=True)
class ThreatContext:
    """Who and where threats can use: established traders, declarants, discharge ports."""

    shippers: Parties
    consignees: Parties
    declarants: np.ndarray
    discharge_ports: dict[bool, np.ndarray] | None = None
    """By sea (True) or not: restrict discharge to these ports (injection into a given day)."""

    @classmethod
    def from_world(cls, world: World, day: date) -> ThreatContext:
        """Active traders of the world on a day."""
        traders = world.traders
        index = world.day_index(day)

        def parties(role: int) -> Parties:
            active = traders.active(role, index)
            return Parties(
                traders.trader_id[active],
                traders.name[active],
                traders.country[active],
                traders.size[active],
            )

        declarants = traders.trader_id[traders.active(DECLARANT, index)]
        return cls(parties(SHIPPER), parties(CONSIGNEE), declarants)


def _new_party_id(rng: np.random.Generator, country: str, role: int) -> str:
    # Ids of newcomers use the registry format with serials the registry never hands out.
    serial = int(rng.integers(0, 10**10))
    return f"{country}{'SCD'[role]}{serial:010d}"


def _party(
    *,
    kind: str,
    role: int,
    parties: Parties,
    scenario: Scenario,
    home_country: str,
    rng: np.random.Generator,
) -> tuple[str, str, str]:
    """Id, name and country of the shipper or consignee of one threat declaration."""
    wanted = scenario.shipper_countries if role == SHIPPER else (home_country,)
    if kind == "established":
        i = parties.pick(rng, wanted)
        return str(parties.ids[i]), str(parties.names[i]), str(parties.countries[i])
    country = str(rng.choice(np.array(wanted)))
    if kind == "watchlist" and scenario.watchlist:
        entry = scenario.watchlist[int(rng.integers(0, len(scenario.watchlist)))]
        return _new_party_id(rng, entry.country, role), name_variant(entry.name, rng), entry.country
    # A newcomer looks like a company in a plausible trade; a front company like a trading house.
    family = int(rng.integers(0, len(FAMILIES)))
    name = company_name(rng, country, family, front=kind == "front")
    return _new_party_id(rng, country, role), name, country


def _choose(weights: Mapping[Any, float], rng: np.random.Generator) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return str(keys[int(rng.choice(len(keys), p=p / p.sum()))])


def draft_threats(
    world: World,
    scenario: Scenario,
    count: int,
    rng: np.random.Generator,
    context: ThreatContext,
) -> tuple[DeclarationDraft, ItemDraft]:
    """`count` threat items of one scenario, each in its own declaration (with cover items)."""
    modes = np.array([_choose(scenario.modes, rng) for _ in range(count)]).astype(object)
    loading_countries = rng.choice(np.array(scenario.shipper_countries), size=count)
    loading, discharge, hubs, hub_counts = draw_routes(
        world, modes, loading_countries, rng, hub_share=scenario.transshipment, hubs=scenario.hubs
    )
    discharge = discharge.astype(object)
    for by_sea, ports in (context.discharge_ports or {}).items():
        hit = np.flatnonzero((modes == "sea") == by_sea)
        if ports.size and hit.size:
            discharge[hit] = rng.choice(ports, size=hit.size)
    rows: dict[str, list[object]] = {k: [] for k in ("sid", "sname", "sc", "cid", "cname", "cc")}
    for i in range(count):
        home = str(discharge[i])[:2]
        sid, sname, sc = _party(
            kind=_choose(scenario.shipper, rng),
            role=SHIPPER,
            parties=context.shippers,
            scenario=scenario,
            home_country=home,
            rng=rng,
        )
        cid, cname, cc = _party(
            kind=_choose(scenario.consignee, rng),
            role=CONSIGNEE,
            parties=context.consignees,
            scenario=scenario,
            home_country=home,
            rng=rng,
        )
        for key, value in zip(rows, (sid, sname, sc, cid, cname, cc), strict=True):
            rows[key].append(value)
    shipper_country = np.array(rows["sc"], dtype=object)
    origin = (
        rng.choice(np.array(scenario.origin_countries), size=count).astype(object)
        if scenario.origin_countries
        else shipper_country
    )
    declarants = np.full(count, None, dtype=object)
    if context.declarants.size:
        filed_by_broker = rng.random(count) >= 0.08
        declarants[filed_by_broker] = rng.choice(
            context.declarants, size=int(filed_by_broker.sum())
        )
    declarations = DeclarationDraft(
        shipper_id=np.array(rows["sid"], dtype=object),
        shipper_name=np.array(rows["sname"], dtype=object),
        shipper_country=shipper_country,
        consignee_id=np.array(rows["cid"], dtype=object),
        consignee_name=np.array(rows["cname"], dtype=object),
        consignee_country=np.array(rows["cc"], dtype=object),
        declarant_id=declarants,
        mode=modes,
        port_of_loading=loading,
        port_of_discharge=discharge.astype(object),
        hubs=hubs,
        hub_counts=hub_counts,
        country_of_origin=origin.astype(object),
        country_of_dispatch=np.array([str(p)[:2] for p in loading], dtype=object),
        currency=draw_currencies(world, shipper_country, rng),
    )
    low, high = scenario.packages
    packages = rng.integers(low, high + 1, count)
    mass = np.round(packages * rng.uniform(*scenario.kg_per_package, count), 2)
    threat_items = ItemDraft(
        declaration=np.arange(count, dtype=np.int64),
        hs_code=rng.choice(np.array(scenario.hs_codes, dtype=object), size=count),
        description=rng.choice(np.array(scenario.descriptions, dtype=object), size=count),
        packages=packages.astype(np.int64),
        gross_mass_kg=np.maximum(mass, 0.01),
        usd_value=mass * rng.uniform(*scenario.usd_per_kg, count),
        un_number=np.full(count, scenario.un_number, dtype=object),
        scenario=np.full(count, scenario.name, dtype=object),
        category=np.full(count, scenario.category, dtype=object),
    )
    low_cover, high_cover = scenario.cover_items
    covers = rng.integers(low_cover, high_cover + 1, count)
    if covers.sum() == 0:
        return declarations, threat_items
    cover_declaration = np.repeat(np.arange(count), covers)
    chapters = _common_chapters(rng, cover_declaration.size)
    cover = items_for_chapters(world, cover_declaration, chapters, modes[cover_declaration], rng)
    return declarations, concat_items([threat_items, cover], [0, 0])


def _common_chapters(rng: np.random.Generator, size: int) -> np.ndarray:
    """Chapters of everyday trade, for the cover items that travel with a threat."""
    weights = np.array([f.weight for f in FAMILIES])
    families = rng.choice(len(FAMILIES), size=size, p=weights / weights.sum())
    return np.array([rng.choice(np.array(FAMILIES[f].chapters)) for f in families], dtype=np.int64)
