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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts import threats
from simulator.drafts import (
    DeclarationDraft,
    ItemDraft,
    concat_items,
    draw_currencies,
    draw_routes,
    items_for_chapters,
    take_declarations,
)
from simulator.goods import FAMILIES
from simulator.names import filer_spelling, name_variant
from simulator.traders import CONSIGNEE, DECLARANT, SHIPPER, company_name

if TYPE_CHECKING:
    from simulator.world import World

if TYPE_CHECKING:
    CategoryName = str
else:
    # A Literal built from the registry, so pydantic names the allowed categories in its error.
    CategoryName = Literal[threats.NAMES]
PartyKind = Literal["established", "in_trade", "new", "front", "watchlist"]
"""`in_trade`: an established trader whose own lines of business include the threat's HS chapter
(a clean history in exactly that trade)."""
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
    descriptions: tuple[str, ...] = ()
    wording: Literal["listed", "honest"] = "listed"
    """`honest`: the description honest traders give goods of the declared code (the catalogue's
    trade text), not one of `descriptions`."""
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
    threat_lines: tuple[int, int] = (1, 1)
    """Controlled lines per declaration: a consignment that declares its goods over several lines
    (weapons and their ammunition, two precursors), each line a threat item of its own."""
    un_number: str | None = None
    watchlist: tuple[WatchlistEntry, ...] = ()
    watchlist_spelling: Literal["variant", "filer"] = "variant"
    """`filer`: the listed name as a filing clerk types it (case, punctuation, abbreviations)."""
    split: tuple[int, int] | None = None
    """One consignment spread over this many declarations (same parties, same day)."""
    finding_note: str = "undeclared controlled goods"

    @model_validator(mode="after")
    def _descriptions_when_listed(self) -> Scenario:
        if self.wording == "listed" and not self.descriptions:
            raise ValueError("descriptions: needed unless wording is honest")
        if self.split is not None and not 1 <= self.split[0] <= self.split[1]:
            raise ValueError("split: needs 1 <= low <= high")
        if not 1 <= self.threat_lines[0] <= self.threat_lines[1]:
            raise ValueError("threat_lines: needs 1 <= low <= high")
        if self.split is not None and self.threat_lines != (1, 1):
            raise ValueError("threat_lines: a split consignment has one line per declaration")
        return self


# The scenarios a world draws when none are named: the first six, the `tell-tale` family. The other
# shipped files are disguise families (simulator/presets.py), chosen by name.
DEFAULT_SCENARIOS: tuple[str, ...] = (
    "ammunition-as-hardware",
    "cwc-precursors-to-front",
    "dual-use-diversion",
    "radioactive-source-as-equipment",
    "salw-parts-as-machinery",
    "watchlist-party-variant",
)


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
    """Scenarios by name or path; the default six (DEFAULT_SCENARIOS) when `names` is None."""
    if names is None:
        names = DEFAULT_SCENARIOS
    return tuple(resolve_scenario(n) for n in names)


@dataclass(frozen=True)
class Parties:
    """Candidate traders of one role: ids, names, countries and activity weights."""

    ids: np.ndarray
    names: np.ndarray
    countries: np.ndarray
    weights: np.ndarray
    chapters: np.ndarray | None = None
    """HS chapters each trader trades, shape (n, LINES); None when unknown (exercises)."""

    def pick(
        self,
        rng: np.random.Generator,
        countries: tuple[str, ...] | None = None,
        within: np.ndarray | None = None,
    ) -> int:
        """Index of one trader, weighted by activity, preferring the given countries.

        `within` restricts the choice to these indices when it is not empty.
        """
        pool = within if within is not None and within.size else np.arange(self.ids.size)
        if countries:
            preferred = pool[np.isin(self.countries[pool], np.array(countries))]
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
                traders.lines[active],
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
) -> tuple[str, str, str, tuple[int, ...]]:
    """Id, name, country of the shipper or consignee of one threat declaration, and the HS
    chapters it trades when the goods must fit its line of business (`in_trade`), else ()."""
    wanted = scenario.shipper_countries if role == SHIPPER else (home_country,)
    if kind == "in_trade":
        i = parties.pick(rng, wanted, within=_in_trade(parties, scenario))
        lines = () if parties.chapters is None else tuple(int(c) for c in parties.chapters[i])
        return str(parties.ids[i]), str(parties.names[i]), str(parties.countries[i]), lines
    if kind == "established":
        i = parties.pick(rng, wanted)
        return str(parties.ids[i]), str(parties.names[i]), str(parties.countries[i]), ()
    country = str(rng.choice(np.array(wanted)))
    if kind == "watchlist" and scenario.watchlist:
        entry = scenario.watchlist[int(rng.integers(0, len(scenario.watchlist)))]
        spell = filer_spelling if scenario.watchlist_spelling == "filer" else name_variant
        party_id = _new_party_id(rng, entry.country, role)  # drawn before the name, as always
        return party_id, spell(entry.name, rng), entry.country, ()
    # A newcomer looks like a company in a plausible trade; a front company like a trading house.
    family = int(rng.integers(0, len(FAMILIES)))
    name = company_name(rng, country, family, front=kind == "front")
    return _new_party_id(rng, country, role), name, country, ()


def _chapters(hs_codes: tuple[str, ...]) -> np.ndarray:
    return np.unique(np.array([int(code[:2]) for code in hs_codes], dtype=np.int64))


def _in_trade(parties: Parties, scenario: Scenario) -> np.ndarray:
    """Indices of traders with a line of business in one of the scenario's HS chapters."""
    if parties.chapters is None:
        return np.arange(0)
    return np.flatnonzero(np.isin(parties.chapters, _chapters(scenario.hs_codes)).any(axis=1))


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
    """`count` threat items of one scenario, each in its own declaration (with cover items).

    A split scenario drafts about `count` items in all: count / mean parts consignments (at least
    one), each spread over several declarations.
    """
    if scenario.split is not None and count:
        count = max(1, round(count / (sum(scenario.split) / 2)))
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
    lines: list[tuple[int, ...]] = []
    for i in range(count):
        home = str(discharge[i])[:2]
        sid, sname, sc, shipper_lines = _party(
            kind=_choose(scenario.shipper, rng),
            role=SHIPPER,
            parties=context.shippers,
            scenario=scenario,
            home_country=home,
            rng=rng,
        )
        cid, cname, cc, consignee_lines = _party(
            kind=_choose(scenario.consignee, rng),
            role=CONSIGNEE,
            parties=context.consignees,
            scenario=scenario,
            home_country=home,
            rng=rng,
        )
        for key, value in zip(rows, (sid, sname, sc, cid, cname, cc), strict=True):
            rows[key].append(value)
        lines.append(consignee_lines or shipper_lines)
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
    owner = _threat_line_owners(scenario, count, rng)
    size = owner.size
    low, high = scenario.packages
    packages = rng.integers(low, high + 1, size)
    mass = np.round(packages * rng.uniform(*scenario.kg_per_package, size), 2)
    threat_items = ItemDraft(
        declaration=owner,
        hs_code=rng.choice(np.array(scenario.hs_codes, dtype=object), size=size),
        # Honest wording is filled in below, from the final codes.
        description=rng.choice(np.array(scenario.descriptions, dtype=object), size=size)
        if scenario.descriptions
        else np.full(size, "", dtype=object),
        packages=packages.astype(np.int64),
        gross_mass_kg=np.maximum(mass, 0.01),
        usd_value=mass * rng.uniform(*scenario.usd_per_kg, size),
        un_number=np.full(size, scenario.un_number, dtype=object),
        scenario=np.full(size, scenario.name, dtype=object),
        category=np.full(size, scenario.category, dtype=object),
    )
    if any(lines):
        _fit_line_of_business(threat_items.hs_code, [lines[o] for o in owner], scenario, rng)
    if scenario.wording == "honest":
        threat_items.description = honest_descriptions(world, threat_items.hs_code, rng)
    if scenario.split is not None:
        declarations, threat_items = _split(declarations, threat_items, scenario.split, rng)
        modes, count = declarations.mode, declarations.size
    low_cover, high_cover = scenario.cover_items
    covers = rng.integers(low_cover, high_cover + 1, count)
    if covers.sum() == 0:
        return declarations, threat_items
    cover_declaration = np.repeat(np.arange(count), covers)
    chapters = _common_chapters(rng, cover_declaration.size)
    cover = items_for_chapters(world, cover_declaration, chapters, modes[cover_declaration], rng)
    return declarations, concat_items([threat_items, cover], [0, 0])


def _threat_line_owners(scenario: Scenario, count: int, rng: np.random.Generator) -> np.ndarray:
    """The declaration of each threat line: one each, or `threat_lines` of them per declaration.

    One line each draws nothing from `rng`, so worlds of one-line scenarios do not change."""
    low, high = scenario.threat_lines
    if high == 1:
        return np.arange(count, dtype=np.int64)
    per_declaration = rng.integers(low, high + 1, count)
    return np.repeat(np.arange(count, dtype=np.int64), per_declaration)


def _fit_line_of_business(
    hs_codes: np.ndarray,
    lines: list[tuple[int, ...]],
    scenario: Scenario,
    rng: np.random.Generator,
) -> None:
    """Re-draw each threat's code among the scenario's codes in its trader's own chapters."""
    for i, chapters in enumerate(lines):
        fitting = [code for code in scenario.hs_codes if int(code[:2]) in chapters]
        if fitting:
            hs_codes[i] = fitting[int(rng.integers(0, len(fitting)))]


def honest_descriptions(world: World, hs_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What honest traders write for goods of these codes: the catalogue's trade texts, in the
    same three styles and shares as ordinary items (drafts.items_for_chapters)."""
    catalogue = world.catalogue
    codes = np.array([str(c)[:6] for c in hs_codes])
    index = np.clip(np.searchsorted(catalogue.hs6, codes), 0, catalogue.hs6.size - 1)
    unknown = np.flatnonzero(catalogue.hs6[index] != codes)
    if unknown.size:
        # A code the catalogue lacks reads like another subheading of its chapter.
        chapters = np.array([int(c[:2]) for c in codes[unknown]], dtype=np.int64)
        index[unknown] = catalogue.sample(chapters, rng)
    variant = rng.choice(3, size=codes.size, p=[0.3, 0.4, 0.3])
    return np.asarray(catalogue.descriptions[index, variant], dtype=object)


def _split(
    declarations: DeclarationDraft,
    items: ItemDraft,
    parts: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[DeclarationDraft, ItemDraft]:
    """Spread each consignment over several declarations of the same parties, route and day.

    Each part carries its share of the packages (at least one), mass and value.
    """
    pieces = rng.integers(parts[0], parts[1] + 1, declarations.size)
    source = np.repeat(np.arange(declarations.size), pieces)
    share = 1.0 / pieces[source]
    split_items = ItemDraft(
        declaration=np.arange(source.size, dtype=np.int64),
        hs_code=items.hs_code[source],
        description=items.description[source],
        packages=np.maximum(1, np.round(items.packages[source] * share)).astype(np.int64),
        gross_mass_kg=np.maximum(np.round(items.gross_mass_kg[source] * share, 2), 0.01),
        usd_value=items.usd_value[source] * share,
        un_number=items.un_number[source],
        scenario=items.scenario[source],
        category=items.category[source],
    )
    return take_declarations(declarations, source), split_items


def _common_chapters(rng: np.random.Generator, size: int) -> np.ndarray:
    """Chapters of everyday trade, for the cover items that travel with a threat."""
    weights = np.array([f.weight for f in FAMILIES])
    families = rng.choice(len(FAMILIES), size=size, p=weights / weights.sum())
    return np.array([rng.choice(np.array(FAMILIES[f].chapters)) for f in families], dtype=np.int64)
