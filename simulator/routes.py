"""Routes: where goods are loaded, where they change ship or plane, and where they arrive.

Grain of the port table: one row per (country, mode group) with the real UN/LOCODEs trade uses,
most important first. Only codes present in the reference location table are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

# Main seaports and cargo airports of the usual trading partners (real UN/LOCODEs).
MAJOR_SEAPORTS: dict[str, tuple[str, ...]] = {
    "CN": ("CNSGH", "CNNBG", "CNYTN", "CNSNZ", "CNQIN", "CNGGZ", "CNTXG", "CNDAL", "CNHHT"),
    "US": ("USNYC", "USLAX", "USSAV", "USHOU", "USCHS", "USOAK"),
    "TR": ("TRMER", "TRIZM", "TRGEM", "TRIST"), "IN": ("INNSA", "INMUN", "INMAA", "INBOM"),
    "GB": ("GBFXT", "GBSOU", "GBLGP", "GBTIL"), "JP": ("JPTYO", "JPYOK", "JPUKB", "JPHKT"),
    "KR": ("KRPUS", "KRINC"), "VN": ("VNSGN", "VNHPH", "VNCMT"), "TW": ("TWKHH", "TWKEL"),
    "BR": ("BRSSZ", "BRPNG", "BRRIG"), "TH": ("THLCH", "THBKK"), "MY": ("MYPKG", "MYTPP"),
    "ID": ("IDCTO", "IDSUB"), "BD": ("BDCGP",), "PK": ("PKKHI", "PKBQM"), "MX": ("MXZLO", "MXVER"),
    "ZA": ("ZADUR", "ZACPT"), "AE": ("AEJEA", "AEDXB", "AEKLF"), "SG": ("SGSIN",),
    "HK": ("HKHKG",), "IL": ("ILHFA", "ILASH"), "EG": ("EGPSD", "EGALY"), "MA": ("MAPTM", "MACAS"),
    "CA": ("CAMTR", "CAVAN", "CAHAL"), "AU": ("AUMEL", "AUSYD"), "SA": ("SAJED", "SADMM"),
    "CH": ("CHBSL",), "NO": ("NOOSL",), "RU": ("RULED", "RUNVS"), "LK": ("LKCMB",),
    # Partners of the other presets (simulator/presets.py).
    "DE": ("DEHAM", "DEBRV"), "NL": ("NLRTM",), "IT": ("ITGOA", "ITSPE"), "FR": ("FRLEH", "FRFOS"),
    "ES": ("ESVLC", "ESALG"), "OM": ("OMSOH", "OMSLL"), "CO": ("COCTG", "COBUN"),
    "PE": ("PECLL",), "IR": ("IRBND",),
}  # fmt: skip
MAJOR_AIRPORTS: dict[str, tuple[str, ...]] = {
    "CN": ("CNPVG", "CNSZX", "CNCAN", "CNPEK"), "US": ("USJFK", "USORD", "USMEM", "USLAX"),
    "HK": ("HKHKG",), "AE": ("AEDXB", "AEDWC"), "TR": ("TRIST",), "IN": ("INDEL", "INBOM"),
    "GB": ("GBLHR", "GBEMA"), "JP": ("JPNRT", "JPKIX"), "KR": ("KRICN",), "SG": ("SGSIN",),
    "TW": ("TWTPE",), "CH": ("CHZRH", "CHBSL"), "IL": ("ILTLV",), "QA": ("QADOH",),
    "VN": ("VNSGN", "VNHAN"), "TH": ("THBKK",), "MY": ("MYKUL",), "CA": ("CAYYZ",),
    "BR": ("BRGRU",), "ZA": ("ZAJNB",), "SA": ("SARUH",), "PK": ("PKKHI",), "MX": ("MXMEX",),
    "DE": ("DEFRA",), "NL": ("NLAMS",), "IT": ("ITMXP",), "FR": ("FRCDG",), "ES": ("ESMAD",),
    "OM": ("OMMCT",), "CO": ("COBOG",), "PE": ("PELIM",), "IR": ("IRIKA",),
}  # fmt: skip
SEA_HUBS_EAST = ("SGSIN", "MYPKG", "LKCMB", "AEJEA", "OMSLL", "EGPSD")
SEA_HUBS_WEST = ("MAPTM", "ESALG", "MTMAR", "GRPIR", "TRAMR")
AIR_HUBS = ("AEDXB", "QADOH", "TRIST", "HKHKG", "SGSIN", "DEFRA")


@dataclass(frozen=True)
class PortBook:
    """Loading ports per country and mode group, hubs, and the discharge ports by mode group."""

    seaports: dict[str, np.ndarray]
    airports: dict[str, np.ndarray]
    sea_hubs_east: np.ndarray
    sea_hubs_west: np.ndarray
    air_hubs: np.ndarray
    discharge_sea: np.ndarray
    discharge_air: np.ndarray
    longitude: dict[str, float]

    def loading(self, country: str, by_sea: bool) -> np.ndarray:
        """Loading ports of a country for one mode group (falls back to the other group)."""
        first, second = (self.seaports, self.airports) if by_sea else (self.airports, self.seaports)
        found = first.get(country)
        if found is None or found.size == 0:
            found = second.get(country)
        return found if found is not None else np.array([], dtype=str)


def build_port_book(
    locations: pl.DataFrame,
    countries: list[str],
    discharge_sea: tuple[str, ...],
    discharge_air: tuple[str, ...],
) -> PortBook:
    """Keep the curated ports the reference table knows; add up to three for other countries."""
    known = locations.select("locode", "country", "is_seaport", "is_airport", "lon")
    seaport_set = set(known.filter(pl.col("is_seaport"))["locode"].to_list())
    airport_set = set(known.filter(pl.col("is_airport"))["locode"].to_list())
    longitude = dict(
        zip(known["locode"].to_list(), known["lon"].fill_null(0.0).to_list(), strict=True)
    )

    def pick(country: str, curated: dict[str, tuple[str, ...]], allowed: set[str]) -> np.ndarray:
        codes = [c for c in curated.get(country, ()) if c in allowed]
        if not codes:
            # No curated port: take the first few of the country, in code order, deterministically.
            codes = sorted(c for c in allowed if c.startswith(country))[:3]
        return np.array(codes, dtype=str)

    def keep(codes: tuple[str, ...], allowed: set[str]) -> np.ndarray:
        found = [c for c in codes if c in allowed]
        if not found:
            raise ValueError(f"none of the ports {codes} is a known location of the right kind")
        return np.array(found, dtype=str)

    return PortBook(
        seaports={c: pick(c, MAJOR_SEAPORTS, seaport_set) for c in countries},
        airports={c: pick(c, MAJOR_AIRPORTS, airport_set) for c in countries},
        sea_hubs_east=keep(SEA_HUBS_EAST, seaport_set),
        sea_hubs_west=keep(SEA_HUBS_WEST, seaport_set | airport_set),
        air_hubs=keep(AIR_HUBS, airport_set),
        discharge_sea=keep(discharge_sea, seaport_set),
        discharge_air=keep(discharge_air, airport_set),
        longitude=longitude,
    )


def zipf_pick(options: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Pick from options listed most important first, with Zipf-like weights."""
    weights = 1.0 / np.arange(1, options.size + 1)
    return np.asarray(rng.choice(options, size=size, p=weights / weights.sum()))
