"""Goods: HS families with their value, weight and mode profiles, and the HS 2022 catalogue.

Grain of the catalogue: one row per HS 2022 subheading (six digits) the world can declare.
A family is a group of HS chapters (mostly an HS section) that shares a value-per-kg profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

MODES: tuple[str, ...] = ("sea", "air", "post", "courier")


@dataclass(frozen=True)
class Family:
    """A group of HS chapters with one trade profile."""

    name: str
    chapters: tuple[int, ...]
    weight: float
    """Share of declaration items (relative), not of value."""
    usd_per_kg: float
    """Median declared value per kilogram."""
    spread: float
    """Scale of log10(value per kg); the tails are Student-t with 3 degrees of freedom."""
    density: float
    """Multiplier on the mode's typical kilograms per package."""
    modes: tuple[float, float, float, float]
    """Relative weights of sea, air, post, courier."""
    peak_month: int = 0
    """Month with the most trade (0: no season)."""


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


FAMILIES: tuple[Family, ...] = (
    Family("live animals, meat, fish", _span(1, 5), 2.0, 4.0, 0.35, 0.8, (7, 3, 0, 0.2)),
    Family("vegetable products", _span(6, 14), 4.0, 1.6, 0.4, 1.0, (8, 1.5, 0.2, 0.3), 10),
    Family("fats and oils", (15,), 1.0, 1.3, 0.25, 1.5, (9, 0.3, 0, 0.1)),
    Family("prepared foodstuffs", _span(16, 24), 4.0, 3.0, 0.35, 1.0, (8, 1, 0.5, 0.5), 11),
    Family("mineral products", _span(25, 27), 3.0, 0.3, 0.45, 6.0, (9, 0.1, 0, 0.05)),
    Family("chemicals", _span(28, 38), 9.0, 6.0, 0.6, 1.0, (7, 2, 0.2, 0.8)),
    Family("plastics and rubber", _span(39, 40), 6.0, 4.0, 0.35, 1.0, (8, 1, 0.5, 1)),
    Family("hides and leather", _span(41, 43), 1.5, 25.0, 0.45, 0.4, (5, 2, 2, 2)),
    Family("wood and cork", _span(44, 46), 2.0, 1.5, 0.35, 2.0, (9, 0.2, 0.2, 0.2)),
    Family("paper and print", _span(47, 49), 2.5, 2.0, 0.4, 1.5, (7, 1, 2, 1)),
    Family("textiles", _span(50, 63), 9.0, 15.0, 0.4, 0.5, (6, 2, 3, 3), 9),
    Family("footwear and headgear", _span(64, 67), 3.0, 25.0, 0.35, 0.5, (6, 2, 3, 3), 9),
    Family("stone, ceramics, glass", _span(68, 70), 2.0, 2.0, 0.45, 2.0, (8, 0.5, 0.3, 0.5)),
    Family("precious metals and stones", (71,), 0.5, 3000.0, 0.9, 0.02, (0.5, 5, 1, 3)),
    Family(
        "base metals", (*_span(72, 76), *_span(78, 83)), 8.0, 3.0, 0.45, 2.5, (9, 0.5, 0.3, 0.7)
    ),
    Family("machinery and electrical", _span(84, 85), 22.0, 40.0, 0.6, 0.8, (6, 3, 1.5, 3), 10),
    Family("vehicles and transport", _span(86, 89), 5.0, 15.0, 0.5, 3.0, (9, 0.7, 0.2, 0.8)),
    Family("instruments and clocks", _span(90, 92), 4.0, 120.0, 0.6, 0.3, (4, 4, 1, 3)),
    Family("arms and ammunition", (93,), 0.05, 60.0, 0.5, 0.8, (5, 3, 0, 1)),
    Family("miscellaneous manufactures", _span(94, 96), 6.0, 8.0, 0.45, 0.8, (6, 1, 3, 3), 10),
    Family("art and antiques", (97,), 0.1, 500.0, 1.0, 0.5, (3, 4, 1, 2)),
)

# Vague descriptions honest traders use too, so a vague description is a weak signal, not a label.
VAGUE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "machinery and electrical": (
        "MACHINE PARTS", "spare parts for industrial machinery", "SPARE PARTS",
        "electronic components", "industrial control equipment", "frequency inverter",
    ),
    "base metals": (
        "HARDWARE", "FASTENERS", "STEEL SAMPLES", "bolts and nuts, assorted",
        "metal hardware parts", "alloy steel bar", "precision machined steel components",
    ),
    "chemicals": (
        "chemical intermediate", "industrial solvent", "textile auxiliary agent", "SAMPLES",
    ),
    "instruments and clocks": (
        "MEDICAL EQUIPMENT", "used hospital equipment", "calibration equipment",
        "level gauge for process industry",
    ),
    "plastics and rubber": ("SAMPLES", "plastic parts"),
    "miscellaneous manufactures": ("GENERAL CARGO", "samples, no commercial value"),
}  # fmt: skip
VAGUE_SHARE = 0.04

# Typical kilograms per package and packages per item by mode: a pallet by sea, a box by air.
KG_PER_PACKAGE = {"sea": 220.0, "air": 22.0, "post": 0.9, "courier": 3.5}
PACKAGES_MEDIAN = {"sea": 30.0, "air": 4.0, "post": 1.0, "courier": 1.3}
CHAPTER_FAMILY = np.full(100, -1, dtype=np.int64)
for _index, _family in enumerate(FAMILIES):
    CHAPTER_FAMILY[list(_family.chapters)] = _index


def family_of_chapter(chapters: np.ndarray) -> np.ndarray:
    """Family index of each HS chapter number (-1 when it belongs to no family)."""
    return np.asarray(CHAPTER_FAMILY[np.clip(chapters.astype(np.int64), 0, 99)])


def family_of_hs(hs_codes: pl.Series) -> np.ndarray:
    """Family index of each HS code (-1 when its chapter belongs to no family)."""
    chapters = hs_codes.str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    return family_of_chapter(chapters)


def season_factor(family: Family, month: int) -> float:
    """Relative volume of a family in a month (1.0 without a season)."""
    if family.peak_month == 0:
        return 1.0
    distance = min(abs(month - family.peak_month), 12 - abs(month - family.peak_month))
    return float(1.0 + 0.6 * np.cos(np.pi * distance / 6.0))


@dataclass(frozen=True)
class Catalogue:
    """The HS subheadings the world trades, grouped by chapter for vectorised sampling."""

    hs6: np.ndarray
    descriptions: np.ndarray
    """One or more trade descriptions per subheading, shape (n, 3)."""
    chapter: np.ndarray
    chapter_start: np.ndarray
    chapter_count: np.ndarray

    def sample(self, chapters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Index of a uniformly chosen subheading within each requested chapter."""
        counts = self.chapter_count[chapters]
        offsets = np.floor(rng.random(chapters.size) * counts).astype(np.int64)
        return np.asarray(self.chapter_start[chapters] + offsets)


def _trade_descriptions(description: str) -> tuple[str, str, str]:
    """Three ways a trader might describe goods of one subheading."""
    tail = description.rsplit(";", maxsplit=1)[-1].strip().strip(",") or description
    tail = tail.removeprefix("other than ").removeprefix("n.e.c. ").strip()
    if len(tail) < 3:
        tail = description
    head = description.split(";", maxsplit=1)[0].strip()
    short = head if len(head) >= 3 else description
    return (description[:240], tail[:120].upper(), f"{short[:80]}, {tail[:60]}".lower())


def build_catalogue(hs6: pl.DataFrame) -> Catalogue:
    """Catalogue from the reference HS 2022 table (columns hs6, description)."""
    frame = (
        hs6.select("hs6", "description")
        .filter(pl.col("hs6").str.contains(r"^\d{6}$"))
        .with_columns(pl.col("hs6").str.slice(0, 2).cast(pl.Int64).alias("chapter"))
        .filter(pl.col("chapter").is_in([c for f in FAMILIES for c in f.chapters]))
        .sort("hs6")
    )
    codes = frame["hs6"].to_numpy().astype(str)
    descriptions = np.array(
        [_trade_descriptions(d) for d in frame["description"].to_list()], dtype=object
    )
    chapter = frame["chapter"].to_numpy()
    start = np.zeros(100, dtype=np.int64)
    count = np.zeros(100, dtype=np.int64)
    present, first, sizes = np.unique(chapter, return_index=True, return_counts=True)
    start[present] = first
    count[present] = sizes
    return Catalogue(codes, descriptions, chapter, start, count)


def sample_value_per_kg(
    families: np.ndarray, rng: np.random.Generator, scale: float = 1.0
) -> np.ndarray:
    """Declared USD per kg: log-normal around the family median with Student-t tails."""
    medians = np.array([f.usd_per_kg for f in FAMILIES])[families]
    spreads = np.array([f.spread for f in FAMILIES])[families]
    noise = np.clip(rng.standard_t(3, families.size), -8.0, 8.0)
    return np.asarray(medians * scale * np.power(10.0, spreads * noise))
