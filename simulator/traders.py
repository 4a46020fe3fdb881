"""Traders: the shippers, consignees and declarants of the synthetic world.

Grain of the registry: one row per trader (a legal entity in one role), with a country, a size,
the HS chapters it trades (its lines of business) and the days it is active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator.goods import FAMILIES

SHIPPER, CONSIGNEE, DECLARANT = 0, 1, 2
LINES = 3

_SYLLABLES = (
    "an",
    "ba",
    "cor",
    "da",
    "el",
    "fa",
    "gal",
    "hua",
    "in",
    "jin",
    "ka",
    "lan",
    "mer",
    "no",
    "or",
    "pa",
    "qi",
    "ra",
    "sol",
    "ta",
    "ul",
    "ve",
    "wei",
    "xin",
    "ya",
    "zen",
    "tek",
    "lux",
    "mar",
    "nor",
    "sun",
    "vita",
    "sino",
    "euro",
    "tra",
    "pro",
    "max",
    "dor",
    "kan",
    "lin",
    "ron",
    "sa",
    "te",
    "vo",
)
_ACTIVITY = {
    "chemicals": ("Chemicals", "Chemical Industry", "Pharma", "Coatings"),
    "textiles": ("Textile", "Garments", "Fashion", "Knitting"),
    "footwear and headgear": ("Footwear", "Shoes", "Fashion"),
    "machinery and electrical": ("Machinery", "Electronics", "Technology", "Electric", "Tools"),
    "base metals": ("Metal", "Steel", "Hardware", "Metal Products"),
    "instruments and clocks": ("Instruments", "Medical", "Optics", "Technology"),
    "vegetable products": ("Agro", "Foods", "Fruits", "Seeds"),
    "prepared foodstuffs": ("Foods", "Food Industry", "Beverages"),
    "arms and ammunition": ("Sporting Arms", "Hunting Supplies", "Defence Technology"),
    "plastics and rubber": ("Plastics", "Rubber", "Polymer"),
}
_GENERIC_ACTIVITY = ("Trading", "Import Export", "International", "Industrial", "Supply", "Group")
_SUFFIX = {
    "CN": ("Co., Ltd.",), "HK": ("Limited", "Co., Ltd."), "TW": ("Co., Ltd.", "Corp."),
    "DE": ("GmbH", "GmbH & Co. KG", "AG"), "NL": ("B.V.",), "BE": ("BV", "NV", "SRL"),
    "US": ("Inc.", "LLC", "Corp."), "GB": ("Ltd", "Limited", "PLC"), "TR": ("A.S.", "Ltd. Sti."),
    "IN": ("Pvt Ltd", "Limited"), "AE": ("FZE", "LLC", "FZCO"), "JP": ("K.K.", "Co., Ltd."),
    "KR": ("Co., Ltd.", "Corporation"), "FR": ("SAS", "SARL", "S.A."), "IT": ("S.r.l.", "S.p.A."),
    "ES": ("S.L.", "S.A."), "MY": ("Sdn Bhd",), "SG": ("Pte Ltd",), "VN": ("Co., Ltd.", "JSC"),
    "TH": ("Co., Ltd.",), "CH": ("AG", "SA", "GmbH"), "BR": ("Ltda.", "S.A."),
    "PL": ("Sp. z o.o.",), "ID": ("PT",), "PK": ("Pvt Ltd",), "BD": ("Ltd.",), "RU": ("OOO",),
    "MX": ("S.A. de C.V.",),
    "KE": ("Limited", "Ltd"), "TZ": ("Limited", "Co. Ltd"), "AR": ("S.A.", "S.R.L."),
    "CL": ("SpA", "Ltda."), "OM": ("LLC", "SAOC"), "CO": ("S.A.S.",), "PE": ("S.A.C.",),
}  # fmt: skip


def company_name(rng: np.random.Generator, country: str, family: int, front: bool = False) -> str:
    """A plausible company name for a trader of one country and line of business."""
    coined = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))).capitalize()
    if front:
        activity = str(rng.choice(("General Trading", "Global Trade", "Investment", "Logistics")))
    else:
        words = _ACTIVITY.get(FAMILIES[family].name, _GENERIC_ACTIVITY)
        pool = words + _GENERIC_ACTIVITY[:2]
        activity = str(rng.choice(pool))
    suffixes = _SUFFIX.get(country, ("Ltd", "Co."))
    suffix = str(rng.choice(suffixes))
    if suffix == "PT":
        return f"PT {coined} {activity}"
    return f"{coined} {activity} {suffix}"


def trader_ids(country: np.ndarray, first_serial: int, role: int) -> np.ndarray:
    """Pseudonymised registry ids: country, role letter, a serial spread over ten digits."""
    serials = (np.arange(country.size, dtype=np.int64) + first_serial) * 7919 % 10**10
    letter = "SCD"[role]
    return np.array([f"{c}{letter}{s:010d}" for c, s in zip(country, serials, strict=True)])


@dataclass(frozen=True)
class Traders:
    """Registry of all traders; one array entry per trader."""

    trader_id: np.ndarray
    name: np.ndarray
    country: np.ndarray
    role: np.ndarray
    size: np.ndarray
    lines: np.ndarray
    """Chapters traded, shape (n, LINES); repeated when a trader has fewer lines."""
    family: np.ndarray
    """Main family (index into FAMILIES)."""
    first_day: np.ndarray
    last_day: np.ndarray

    def active(self, role: int, day_index: int) -> np.ndarray:
        """Indices of traders in a role active on a day (day 0 is the world's start)."""
        mask = (self.role == role) & (self.first_day <= day_index) & (self.last_day >= day_index)
        found = np.flatnonzero(mask)
        return found if found.size else np.flatnonzero(self.role == role)

    def frame(self) -> pl.DataFrame:
        """The registry as a frame (for reports and exercises)."""
        return pl.DataFrame(
            {
                "trader_id": self.trader_id,
                "name": self.name,
                "country": self.country,
                "role": np.array(["shipper", "consignee", "declarant"])[self.role],
                "size": self.size,
                "family": self.family,
                "first_day": self.first_day,
                "last_day": self.last_day,
            }
        )


def _family_chapters(rng: np.random.Generator, family: np.ndarray) -> np.ndarray:
    chapters = np.empty(family.size, dtype=np.int64)
    for index, fam in enumerate(FAMILIES):
        hit = np.flatnonzero(family == index)
        chapters[hit] = rng.choice(np.array(fam.chapters), size=hit.size)
    return chapters


def build_traders(
    rng: np.random.Generator,
    counts: dict[int, int],
    countries: dict[int, tuple[np.ndarray, np.ndarray]],
    horizon_days: int,
    yearly_churn: float,
) -> Traders:
    """Draw the registry: `counts` per role, `countries` per role as (codes, weights)."""
    family_weights = np.array([f.weight for f in FAMILIES])
    family_weights = family_weights / family_weights.sum()
    parts: list[dict[str, np.ndarray]] = []
    serial = 1
    for role in (SHIPPER, CONSIGNEE, DECLARANT):
        n = counts[role]
        codes, weights = countries[role]
        country = rng.choice(codes, size=n, p=weights / weights.sum())
        family = rng.choice(len(FAMILIES), size=n, p=family_weights)
        lines = np.empty((n, LINES), dtype=np.int64)
        lines[:, 0] = _family_chapters(rng, family)
        for line in range(1, LINES):
            # Most traders stay in their family; some add an unrelated chapter.
            same = rng.random(n) < 0.75
            other = rng.choice(len(FAMILIES), size=n, p=family_weights)
            extra = _family_chapters(rng, np.where(same, family, other))
            keep = rng.random(n) < 0.55
            lines[:, line] = np.where(keep, extra, lines[:, 0])
        # Heavy tail, capped: the biggest trader files about 1-2 % of the traffic, not a tenth.
        size = np.minimum(rng.pareto(1.1, n) + 1.0, 300.0)
        # Most traders exist before the world starts; the rest appear over the horizon.
        born_later = rng.random(n) < 0.25
        first_day = np.where(
            born_later, rng.integers(0, max(horizon_days, 1), n), -rng.integers(1, 2000, n)
        )
        lifetime = rng.exponential(365.0 / max(yearly_churn, 1e-6), n)
        last_day = first_day + np.ceil(lifetime).astype(np.int64)
        if role == DECLARANT:
            last_day = np.full(n, 10**6)
            first_day = np.full(n, -1)
        names = np.array(
            [company_name(rng, c, f) for c, f in zip(country, family, strict=True)], dtype=object
        )
        parts.append(
            {
                "trader_id": trader_ids(country, serial, role),
                "name": names,
                "country": country,
                "role": np.full(n, role),
                "size": size,
                "lines": lines,
                "family": family,
                "first_day": first_day.astype(np.int64),
                "last_day": last_day.astype(np.int64),
            }
        )
        serial += n
    return Traders(
        **{key: np.concatenate([p[key] for p in parts]) for key in parts[0]},
    )
