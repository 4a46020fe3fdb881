"""Drafts: declarations and items as column arrays before they become contract rows.

Normal traffic and threats both fill the same drafts and share one renderer (day.py), so a
threat row is formatted exactly like any other row: no column can give it away.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from simulator.goods import (
    FAMILIES,
    KG_PER_PACKAGE,
    MODES,
    PACKAGES_MEDIAN,
    VAGUE_DESCRIPTIONS,
    VAGUE_SHARE,
    family_of_chapter,
    sample_value_per_kg,
)
from simulator.routes import zipf_pick

if TYPE_CHECKING:
    from simulator.world import World

# Dangerous-goods numbers a trader in these chapters commonly declares.
UN_NUMBERS: dict[int, tuple[str, ...]] = {
    27: ("1202", "1223", "1268"), 28: ("1789", "1824", "2031"), 29: ("1090", "1993", "1170"),
    32: ("1263", "1210"), 33: ("1266", "1170"), 36: ("0336", "1944"), 38: ("3082", "1993"),
    85: ("3480", "3481"),
}  # fmt: skip


@dataclass
class DeclarationDraft:
    """One entry per declaration."""

    shipper_id: np.ndarray
    shipper_name: np.ndarray
    shipper_country: np.ndarray
    consignee_id: np.ndarray
    consignee_name: np.ndarray
    consignee_country: np.ndarray
    declarant_id: np.ndarray
    mode: np.ndarray
    port_of_loading: np.ndarray
    port_of_discharge: np.ndarray
    hubs: np.ndarray
    """Transshipment ports of all declarations, flat, in route order."""
    hub_counts: np.ndarray
    country_of_origin: np.ndarray
    country_of_dispatch: np.ndarray
    currency: np.ndarray

    @property
    def size(self) -> int:
        """Number of declarations."""
        return int(self.mode.size)


@dataclass
class ItemDraft:
    """One entry per goods item; `declaration` indexes the declaration draft."""

    declaration: np.ndarray
    hs_code: np.ndarray
    description: np.ndarray
    packages: np.ndarray
    gross_mass_kg: np.ndarray
    usd_value: np.ndarray
    un_number: np.ndarray
    scenario: np.ndarray
    """Scenario name for threat items, None otherwise (ground truth only)."""
    category: np.ndarray


def concat_declarations(parts: list[DeclarationDraft]) -> DeclarationDraft:
    """Stack declaration drafts in order."""
    return DeclarationDraft(
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts]).astype(object)
            if f.name != "hub_counts"
            else np.concatenate([p.hub_counts for p in parts]).astype(np.int64)
            for f in fields(DeclarationDraft)
        }
    )


def take_declarations(draft: DeclarationDraft, index: np.ndarray) -> DeclarationDraft:
    """Declarations at `index` (repeats allowed), each with its own transshipment hubs."""
    ends = np.cumsum(draft.hub_counts)
    starts = ends - draft.hub_counts
    hubs = [draft.hubs[starts[i] : ends[i]] for i in index]
    values = {
        f.name: getattr(draft, f.name)[index]
        for f in fields(DeclarationDraft)
        if f.name not in {"hubs", "hub_counts"}
    }
    return DeclarationDraft(
        **values,
        hubs=np.concatenate([*hubs, np.array([], dtype=object)]).astype(object),
        hub_counts=draft.hub_counts[index].astype(np.int64),
    )


def concat_items(parts: list[ItemDraft], sizes: list[int]) -> ItemDraft:
    """Stack item drafts, shifting declaration indices by the sizes of earlier declaration parts."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    stacked = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(ItemDraft)
    }
    stacked["declaration"] = np.concatenate(
        [p.declaration + o for p, o in zip(parts, offsets, strict=True)]
    )
    return ItemDraft(**stacked)


def draw_modes(families: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Transport mode per declaration from its family's mode mix."""
    modes = np.empty(families.size, dtype=object)
    for index, family in enumerate(FAMILIES):
        hit = np.flatnonzero(families == index)
        weights = np.array(family.modes, dtype=float)
        modes[hit] = np.array(MODES)[
            rng.choice(len(MODES), size=hit.size, p=weights / weights.sum())
        ]
    return modes


def draw_routes(
    world: World,
    modes: np.ndarray,
    loading_countries: np.ndarray,
    rng: np.random.Generator,
    *,
    hub_share: float | None = None,
    hubs: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Loading port, discharge port and transshipment hubs per declaration.

    `hub_share` and `hubs` override the world's transshipment share and hub choice (threats).
    """
    ports = world.ports
    n = modes.size
    by_sea = modes == "sea"
    loading = np.empty(n, dtype=object)
    east = np.zeros(n, dtype=bool)
    for country in np.unique(loading_countries.astype(str)):
        in_country = loading_countries == country
        for sea in (True, False):
            hit = np.flatnonzero(in_country & (by_sea == sea))
            if hit.size:
                options = ports.loading(str(country), sea)
                if options.size == 0:
                    options = ports.sea_hubs_east if sea else ports.air_hubs
                picked = zipf_pick(options, rng, hit.size)
                loading[hit] = picked
                lon = np.array([ports.longitude.get(str(p), 0.0) for p in options])
                east[hit] = lon[_positions(options, picked)] > 40.0
    discharge = np.where(
        by_sea,
        zipf_pick(ports.discharge_sea, rng, n),
        zipf_pick(ports.discharge_air, rng, n),
    )
    params = world.params
    share = np.where(by_sea, params.transshipment_sea, params.transshipment_air * (modes == "air"))
    if hub_share is not None:
        share = np.full(n, hub_share)
    counts = np.where(rng.random(n) < share, 1 + (rng.random(n) < 0.2) * by_sea, 0)
    first = np.where(
        by_sea,
        np.where(
            east, zipf_pick(ports.sea_hubs_east, rng, n), zipf_pick(ports.sea_hubs_west, rng, n)
        ),
        zipf_pick(ports.air_hubs, rng, n),
    )
    second = zipf_pick(ports.sea_hubs_west, rng, n)
    if hubs:
        first = rng.choice(np.array(hubs), size=n)
    # A hub equal to the loading port or the previous hub is no transshipment at all.
    counts = np.where(first == loading, 0, counts)
    counts = np.where((counts == 2) & (second == first), 1, counts)
    stacked = np.stack([first, second], axis=1)
    flat = stacked[np.arange(2)[None, :] < counts[:, None]]
    return loading, discharge, flat.astype(object), counts.astype(np.int64)


def _positions(options: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """Index in `options` of each picked value."""
    order = np.argsort(options)
    return np.asarray(order[np.searchsorted(options, picked, sorter=order)])


def draw_currencies(
    world: World, shipper_country: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Invoice currency: mostly USD or EUR, else the shipper's own when it converts."""
    local = np.array([world.currencies.get(str(c), "USD") for c in shipper_country], dtype=object)
    roll = rng.random(shipper_country.size)
    return np.where(roll < 0.55, "USD", np.where(roll < 0.8, "EUR", local)).astype(object)


def draw_quantities(
    families: np.ndarray, modes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packages, gross mass (kg) and value (USD) per item for its family and mode."""
    n = families.size
    median_packages = np.array([PACKAGES_MEDIAN[str(m)] for m in MODES])
    median_kg = np.array([KG_PER_PACKAGE[str(m)] for m in MODES])
    mode_index = np.select([modes == m for m in MODES], list(range(len(MODES))), 0)
    density = np.array([f.density for f in FAMILIES])[families]
    packages = np.maximum(1, np.round(median_packages[mode_index] * rng.lognormal(0, 0.9, n)))
    parcel = (modes == "post") | (modes == "courier")
    packages = np.where(parcel, np.minimum(packages, 5), packages).astype(np.int64)
    kg_per_package = median_kg[mode_index] * density * rng.lognormal(0, 0.6, n)
    kg_per_package = np.where(parcel, np.minimum(kg_per_package, 30.0), kg_per_package)
    mass = np.maximum(np.round(packages * kg_per_package, 2), 0.01)
    value = sample_value_per_kg(families, rng) * mass
    return packages, mass, value


def draw_un_numbers(chapters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dangerous-goods number for part of the items of chapters that carry them."""
    out = np.full(chapters.size, None, dtype=object)
    for chapter, numbers in UN_NUMBERS.items():
        hit = np.flatnonzero((chapters == chapter) & (rng.random(chapters.size) < 0.45))
        out[hit] = rng.choice(np.array(numbers), size=hit.size)
    return out


def items_for_chapters(
    world: World,
    declaration: np.ndarray,
    chapters: np.ndarray,
    modes: np.ndarray,
    rng: np.random.Generator,
) -> ItemDraft:
    """Ordinary goods items of the given chapters (one per entry)."""
    catalogue = world.catalogue
    index = catalogue.sample(chapters, rng)
    variant = rng.choice(3, size=chapters.size, p=[0.3, 0.4, 0.3])
    families = family_of_chapter(chapters)
    packages, mass, value = draw_quantities(families, modes, rng)
    n = chapters.size
    description = catalogue.descriptions[index, variant]
    vague = rng.random(n) < VAGUE_SHARE
    for family_index, family in enumerate(FAMILIES):
        phrases = VAGUE_DESCRIPTIONS.get(family.name)
        hit = np.flatnonzero(vague & (families == family_index))
        if phrases and hit.size:
            description[hit] = rng.choice(np.array(phrases, dtype=object), size=hit.size)
    return ItemDraft(
        declaration=declaration.astype(np.int64),
        hs_code=catalogue.hs6[index],
        description=description,
        packages=packages,
        gross_mass_kg=mass,
        usd_value=value,
        un_number=draw_un_numbers(chapters, rng),
        scenario=np.full(n, None, dtype=object),
        category=np.full(n, None, dtype=object),
    )
