"""Reference data the product checks and scores against, loaded once per process.

Each table states its grain in its loader's docstring. The shipped files live in contracts/data/
(sources and licences in contracts/data/LICENCES.md); only the currency-rate table is meant to be
replaced by the user, through a path the caller passes in (Settings.currency_rates).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

import polars as pl

DATA_DIR = Path(__file__).parent / "data"
HS_FILE = DATA_DIR / "hs2022.parquet"
HS_SECTIONS_FILE = DATA_DIR / "hs_sections.csv"
COUNTRIES_FILE = DATA_DIR / "countries.parquet"
LOCATIONS_FILE = DATA_DIR / "locations.parquet"
CURRENCY_RATES_FILE = DATA_DIR / "currency_rates.csv"
STRATEGIC_HS_FILE = DATA_DIR / "strategic_hs.csv"

# The strategic goods list's own classes (its `threat` column), a vocabulary of the reference data:
# the threat categories the models target (contracts/threats.py) each name one of them. Their
# order fixes the feature codes of `features.strategic.THREAT_CODES`, so new classes go last.
Threat = Literal["cbrn", "salw", "dual_use", "military"]
THREATS: tuple[Threat, ...] = ("cbrn", "salw", "dual_use", "military")
RATE_COLUMNS = ("currency", "units_per_usd", "as_of")
_MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class ReferenceTable:
    """One loaded reference table, as the catalogue describes it."""

    name: str
    version: str
    rows: int
    source: str
    licence: str
    file: Path


@cache
def hs_nomenclature() -> pl.DataFrame:
    """HS 2022, one row per chapter (2 digits), heading (4) or subheading (6).

    Columns: hs_code, level, description, parent (null for chapters), section (Roman numeral).
    """
    return pl.read_parquet(HS_FILE).with_columns(pl.col("level").cast(pl.Int64))


@cache
def hs_sections() -> pl.DataFrame:
    """HS 2022 sections, one row per section: section (Roman numeral), name."""
    return pl.read_csv(HS_SECTIONS_FILE, infer_schema=False)


@cache
def hs6() -> pl.DataFrame:
    """HS 2022 subheadings, one row per 6-digit code.

    Columns: hs6, description, heading (4 digits), chapter (2 digits), section.
    """
    return (
        hs_nomenclature()
        .filter(pl.col("level") == 6)
        .select(
            hs6=pl.col("hs_code"),
            description=pl.col("description"),
            heading=pl.col("hs_code").str.slice(0, 4),
            chapter=pl.col("hs_code").str.slice(0, 2),
            section=pl.col("section"),
        )
    )


@cache
def hs6_codes() -> frozenset[str]:
    """Every HS 2022 six-digit subheading."""
    return frozenset(hs6()["hs6"].to_list())


@cache
def countries() -> pl.DataFrame:
    """ISO 3166-1 countries, one row per country.

    Columns: alpha2, alpha3, name, region, sub_region (UN M49; null for Antarctica), currency (the
    first ISO 4217 code listed for the country, null where none), currencies (all listed codes).
    """
    return pl.read_parquet(COUNTRIES_FILE)


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code."""
    return frozenset(countries()["alpha2"].to_list())


@cache
def currency_codes() -> frozenset[str]:
    """ISO 4217 alphabetic codes of the currencies countries use."""
    return frozenset(countries()["currencies"].explode().drop_nulls().to_list())


@cache
def locations() -> pl.DataFrame:
    """UN/LOCODE transport locations, one row per code.

    Columns: locode (5 chars), country, name, is_seaport, is_rail, is_road, is_airport, is_postal,
    is_multimodal (function codes 1-6), lat, lon (null for about 1% of codes),
    coordinates_geocoded (true when the point was geocoded, not given by UNECE), status.
    """
    return pl.read_parquet(LOCATIONS_FILE)


@cache
def locodes() -> frozenset[str]:
    """Every shipped UN/LOCODE."""
    return frozenset(locations()["locode"].to_list())


def currency_rates(path: Path | None = None) -> pl.DataFrame:
    """Currency rates, one row per currency: currency, units_per_usd, as_of (+ extra columns).

    `path` replaces the shipped table (indicative approximate rates). A malformed file raises
    ValueError naming the file, line and field of every problem found (up to 20).
    """
    target = CURRENCY_RATES_FILE if path is None else Path(path)
    try:
        stat = target.stat()
    except OSError as exc:
        raise ValueError(f"{target}: cannot read currency rate file ({exc.strerror})") from exc
    # Keyed on size and mtime too, so a file replaced in a long-lived process is read again.
    return _read_rates(target.resolve(), stat.st_mtime_ns, stat.st_size)


def convertible_currencies(path: Path | None = None) -> frozenset[str]:
    """Currencies the rate table (shipped or replaced by `path`) can convert to USD."""
    return frozenset(currency_rates(path)["currency"].to_list())


@cache
def strategic_hs() -> pl.DataFrame:
    """CBRN / SALW / dual-use / military HS prefixes, one row per prefix (4 or 6 digits).

    Columns: hs_prefix, threat (cbrn, salw, dual_use, military), category, description, source.
    A working list derived from HS 2022 texts, NOT an official control list.
    """
    return pl.read_csv(STRATEGIC_HS_FILE, infer_schema=False)


def catalogue(rates: Path | None = None) -> list[ReferenceTable]:
    """What is loaded: one entry per reference table (`rates` replaces the shipped rate table)."""
    rate_frame = currency_rates(rates)
    rate_dates = sorted(set(rate_frame["as_of"].to_list()))
    rates_version = f"as of {rate_dates[0]}"
    if len(rate_dates) > 1:
        rates_version = f"as of {rate_dates[0]} to {rate_dates[-1]}"
    if rates is None:
        rates_version = f"indicative, {rates_version}"
    return [
        ReferenceTable(
            "hs_nomenclature",
            "HS 2022",
            hs_nomenclature().height,
            "UN Comtrade via datasets/harmonized-system",
            "ODC-PDDL-1.0",
            HS_FILE,
        ),
        ReferenceTable(
            "hs6",
            "HS 2022",
            hs6().height,
            "subheadings of hs_nomenclature",
            "ODC-PDDL-1.0",
            HS_FILE,
        ),
        ReferenceTable(
            "countries",
            "ISO 3166-1, ISO 4217 (2026 snapshot)",
            countries().height,
            "datasets/country-codes",
            "ODC-PDDL-1.0",
            COUNTRIES_FILE,
        ),
        ReferenceTable(
            "locations",
            "UN/LOCODE 2024-2",
            locations().height,
            "UNECE via geoapify/un-locode (coordinates partly geocoded)",
            "MIT (geoapify) / ODC-PDDL-1.0 (UNECE data)",
            LOCATIONS_FILE,
        ),
        ReferenceTable(
            "currency_rates",
            rates_version,
            rate_frame.height,
            "approximate market rates, to be replaced"
            if rates is None
            else "replacement file given by the user",
            "ODC-PDDL-1.0 (project)" if rates is None else "as supplied",
            CURRENCY_RATES_FILE if rates is None else rates,
        ),
        ReferenceTable(
            "strategic_hs",
            "draft, not an official list",
            strategic_hs().height,
            "derived from HS 2022 texts (see LICENCES.md)",
            "ODC-PDDL-1.0",
            STRATEGIC_HS_FILE,
        ),
    ]


@cache
def _read_rates(path: Path, _mtime_ns: int, _size: int) -> pl.DataFrame:
    """Parse and check a rate file; the unused arguments only key the cache."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    except OSError as exc:
        raise ValueError(f"{path}: cannot read currency rate file ({exc.strerror})") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}: empty file, expected a header row {','.join(RATE_COLUMNS)}")
    header = [name.strip() for name in header]
    missing = [name for name in RATE_COLUMNS if name not in header]
    if missing:
        hint = " (the file must be comma-separated)" if ";" in "".join(header) else ""
        raise ValueError(f"{path}, line 1: missing column(s) {', '.join(missing)}{hint}")
    extra = [name for name in header if name not in RATE_COLUMNS]
    known = currency_codes()
    errors: list[str] = []
    seen: dict[str, int] = {}
    records: list[dict[str, object]] = []
    for fields in reader:
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(header):
            errors.append(
                f"{path}, line {line}: expected {len(header)} fields, found {len(fields)}"
            )
            continue
        row = dict(zip(header, (field.strip() for field in fields), strict=True))
        problems = _rate_row_problems(row, known, seen)
        errors.extend(f"{path}, line {line}, field {name}: {why}" for name, why in problems)
        if not problems:
            seen[row["currency"]] = line
            records.append(
                {
                    "currency": row["currency"],
                    "units_per_usd": float(row["units_per_usd"]),
                    "as_of": date.fromisoformat(row["as_of"]),
                    **{name: row[name] or None for name in extra},
                }
            )
    if errors:
        shown = errors[:_MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        raise ValueError("\n".join(shown + ([f"... and {more} more"] if more else [])))
    if not records:
        raise ValueError(f"{path}: no rate rows after the header")
    schema: dict[str, pl.DataType] = {
        "currency": pl.String(),
        "units_per_usd": pl.Float64(),
        "as_of": pl.Date(),
        **{name: pl.String() for name in extra},
    }
    return pl.DataFrame(records, schema=schema)


def _rate_row_problems(
    row: dict[str, str], known: frozenset[str], seen: dict[str, int]
) -> list[tuple[str, str]]:
    """(field, reason) for every rule one rate row breaks."""
    problems: list[tuple[str, str]] = []
    currency = row["currency"]
    if currency not in known:
        problems.append(("currency", f"{currency!r} is not an ISO 4217 currency code"))
    elif currency in seen:
        problems.append(("currency", f"{currency} already given on line {seen[currency]}"))
    try:
        units = float(row["units_per_usd"])
    except ValueError:
        problems.append(("units_per_usd", f"{row['units_per_usd']!r} is not a number"))
    else:
        if not math.isfinite(units) or units <= 0:
            problems.append(("units_per_usd", f"{row['units_per_usd']} must be a positive number"))
        elif currency == "USD" and units != 1:
            problems.append(("units_per_usd", f"USD must be 1, not {row['units_per_usd']}"))
    try:
        date.fromisoformat(row["as_of"])
    except ValueError:
        problems.append(("as_of", f"{row['as_of']!r} is not a date (YYYY-MM-DD)"))
    return problems
