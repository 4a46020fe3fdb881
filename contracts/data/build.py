"""Derive the shipped reference tables from their public sources (maintainers only).

Pure functions: source file paths in, frames out. `cargo-risk reference build --source DIR` calls
them and writes the results atomically into this folder; the product itself only reads the results.
The source layout under DIR is the one described in LICENCES.md (hs/, countries/, locode/).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from contracts.declarations import LOCODE_PATTERN

FUNCTION_FLAGS: dict[str, int] = {
    "is_seaport": 0,
    "is_rail": 1,
    "is_road": 2,
    "is_airport": 3,
    "is_postal": 4,
    "is_multimodal": 5,
}
"""UN/LOCODE function-code positions kept as flags; a location with none of them is not shipped."""

_FUNCTION_PATTERN = r"^[0-9AB-]{8}$"
_COORDINATE_DECIMALS = 4  # about 11 m: finer digits in geocoded points are noise, and cost bytes


def build_hs(nomenclature_csv: Path) -> pl.DataFrame:
    """HS nomenclature, one row per chapter, heading or subheading.

    UN Comtrade's additions are dropped: the TOTAL row and chapter 99 (commodities not specified
    according to kind), which is not part of HS 2022 and must not pass as a subheading.
    """
    raw = pl.read_csv(nomenclature_csv, infer_schema=False, encoding="utf8-lossy")
    raw = raw.rename({c: c.lstrip("\ufeff") for c in raw.columns})
    frame = raw.filter(pl.col("section") != "TOTAL").select(
        hs_code=pl.col("hscode").str.strip_chars(),
        level=pl.col("level").cast(pl.Int8),
        description=pl.col("description").str.strip_chars(),
        parent=pl.when(pl.col("parent") == "TOTAL").then(None).otherwise(pl.col("parent")),
        section=pl.col("section"),
    )
    bad = frame.filter(
        ~pl.col("hs_code").str.contains(r"^\d+$")
        | (pl.col("hs_code").str.len_chars() != pl.col("level"))
        | ~pl.col("level").is_in([2, 4, 6])
    )
    if bad.height:
        raise ValueError(f"{nomenclature_csv}: malformed hs codes {bad['hs_code'].to_list()[:5]}")
    if frame["hs_code"].is_duplicated().any():
        raise ValueError(f"{nomenclature_csv}: duplicate hs codes")
    return frame.sort("hs_code")


def build_hs_sections(sections_csv: Path) -> pl.DataFrame:
    """HS sections, one row per section (Roman numeral and title)."""
    raw = pl.read_csv(sections_csv, infer_schema=False)
    raw = raw.rename({c: c.lstrip("\ufeff") for c in raw.columns})
    return raw.select(section=pl.col("section").str.strip_chars(), name=pl.col("name"))


CURRENCY_GAPS: dict[str, str] = {"TR": "TRY"}
"""Currencies ISO 4217 lists but the source snapshot lost (its join missed the name Türkiye)."""


def build_countries(country_codes_csv: Path) -> pl.DataFrame:
    """ISO 3166-1 countries with region and ISO 4217 currencies, one row per country."""
    raw = pl.read_csv(country_codes_csv, infer_schema=False)
    listed = pl.col("ISO4217-currency_alphabetic_code").fill_null(
        pl.col("ISO3166-1-Alpha-2").replace_strict(CURRENCY_GAPS, default=None)
    )
    currencies = listed.str.split(",").list.eval(pl.element().str.strip_chars())
    return (
        raw.select(
            alpha2=pl.col("ISO3166-1-Alpha-2"),
            alpha3=pl.col("ISO3166-1-Alpha-3"),
            name=pl.col("CLDR display name"),
            region=pl.col("Region Name"),
            sub_region=pl.col("Sub-region Name"),
            currencies=currencies,
        )
        .with_columns(currency=pl.col("currencies").list.first())
        .select("alpha2", "alpha3", "name", "region", "sub_region", "currency", "currencies")
        .sort("alpha2")
    )


def read_locode_source(locode_csv: Path) -> pl.DataFrame:
    """Read the geoapify UN/LOCODE CSV, repairing its rows whose quoted names were split.

    Names holding a comma were written with broken quoting: the name and its ASCII twin each spill
    into two fields, which pushes subdivision into `function` and the function code into `iata`
    (status and IATA are lost). Such rows are put back together; any other shape is an error.
    """
    raw = pl.read_csv(locode_csv, infer_schema=False)
    function_ok = pl.col("function").str.contains(_FUNCTION_PATTERN).fill_null(False)
    shifted = ~function_ok & pl.col("iata").str.contains(_FUNCTION_PATTERN).fill_null(False)
    joined_name = (pl.col("name") + "," + pl.col("nameWoDiacritics")).str.strip_chars('"')
    repaired = raw.with_columns(
        name=pl.when(shifted).then(joined_name).otherwise(pl.col("name")),
        subdivision=pl.when(shifted).then(pl.col("function")).otherwise(pl.col("subdivision")),
        status=pl.when(shifted).then(None).otherwise(pl.col("status")),
        function=pl.when(shifted).then(pl.col("iata")).otherwise(pl.col("function")),
        iata=pl.when(shifted).then(None).otherwise(pl.col("iata")),
    )
    unreadable = repaired.with_row_index("line", offset=2).filter(
        ~pl.col("function").str.contains(_FUNCTION_PATTERN).fill_null(False)
        | ~(pl.col("country") + pl.col("location")).str.contains(r"^[A-Z]{2}[A-Z0-9]{3}$")
    )
    if unreadable.height:
        first = unreadable.row(0, named=True)
        raise ValueError(
            f"{locode_csv}, line {first['line']}: unreadable location "
            f"({unreadable.height} rows like it): {first}"
        )
    return repaired


def build_locations(locode_csv: Path) -> pl.DataFrame:
    """UN/LOCODE transport locations with coordinates, one row per code.

    A code listed twice (alternative names) keeps the flags of every listing and the name and
    coordinates of its best listing: UNECE coordinates before geocoded ones, then file order.
    """
    source = read_locode_source(locode_csv)
    flags = {
        name: pl.col("function").str.slice(position, 1) == str(position + 1)
        for name, position in FUNCTION_FLAGS.items()
    }
    rows = source.with_row_index("order").select(
        "order",
        locode=pl.col("country") + pl.col("location"),
        country=pl.col("country"),
        name=pl.col("name"),
        status=pl.col("status"),
        **flags,
        lat=pl.col("lat").cast(pl.Float64, strict=False).round(_COORDINATE_DECIMALS),
        lon=pl.col("lon").cast(pl.Float64, strict=False).round(_COORDINATE_DECIMALS),
        coordinates_geocoded=pl.col("geocoded").fill_null("false") == "true",
    )
    # The declarations contract only admits codes without 0 and 1 (UNECE avoids them); the few
    # requested codes that use them could never be referenced, so they are not shipped.
    rows = rows.filter(
        pl.any_horizontal(*FUNCTION_FLAGS) & pl.col("locode").str.contains(LOCODE_PATTERN)
    )
    rows = rows.with_columns(
        # Out-of-range points are errors in the source; no point beats a wrong one.
        lat=pl.when(pl.col("lat").abs() <= 90).then(pl.col("lat")),
        lon=pl.when(pl.col("lon").abs() <= 180).then(pl.col("lon")),
    )
    preference = [pl.col("lat").is_null(), pl.col("coordinates_geocoded"), pl.col("order")]
    best = rows.sort(preference).unique("locode", keep="first", maintain_order=True)
    merged_flags = rows.group_by("locode").agg(pl.col(name).any() for name in FUNCTION_FLAGS)
    return (
        best.drop(*FUNCTION_FLAGS, "order")
        .join(merged_flags, on="locode", how="left")
        .select(
            "locode",
            "country",
            "name",
            *FUNCTION_FLAGS,
            "lat",
            "lon",
            "coordinates_geocoded",
            "status",
        )
        .sort("locode")
    )
