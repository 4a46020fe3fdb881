"""Reference data: every loader, the rate-file checks, the UN/LOCODE repair and the CLI verb."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contracts import reference
from contracts.data import build
from contracts.declarations import LOCODE_PATTERN
from pipelines.cli import app


def test_hs_nomenclature_has_every_level_and_links_to_parents() -> None:
    hs = reference.hs_nomenclature()
    assert hs.columns == ["hs_code", "level", "description", "parent", "section"]
    counts = dict(hs.group_by("level").len().iter_rows())
    assert counts[2] >= 96
    assert counts[4] >= 1_200
    assert counts[6] >= 5_600
    assert (hs["hs_code"].str.len_chars() == hs["level"]).all()
    children = hs.filter(pl.col("level") > 2)
    assert children["parent"].is_in(hs["hs_code"].implode()).all()
    assert hs.filter(pl.col("level") == 2)["parent"].is_null().all()
    assert set(hs["section"].unique()) == set(reference.hs_sections()["section"])


def test_hs6_holds_hs2022_subheadings_only() -> None:
    frame = reference.hs6()
    assert frame.columns == ["hs6", "description", "heading", "chapter", "section"]
    codes = reference.hs6_codes()
    assert len(codes) == frame.height >= 5_600
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    # 8806 (unmanned aircraft) is new in HS 2022; 8525.80 was split out of older codes.
    assert {"880622", "930190", "281213", "852589"} <= codes
    assert "880211" in codes and "8806" not in codes
    assert "999999" not in codes  # UN Comtrade's "not specified" chapter is not HS 2022
    drone = frame.filter(pl.col("hs6") == "880622").row(0, named=True)
    assert (drone["heading"], drone["chapter"], drone["section"]) == ("8806", "88", "XVII")


def test_countries_carry_codes_regions_and_currencies() -> None:
    frame = reference.countries()
    assert frame.columns[:6] == ["alpha2", "alpha3", "name", "region", "sub_region", "currency"]
    assert 240 <= frame.height <= 260
    assert frame["alpha2"].is_unique().all()
    by_code = {row["alpha2"]: row for row in frame.iter_rows(named=True)}
    # Namibia's "NA" must survive as a code, not turn into a missing value.
    assert by_code["NA"]["alpha3"] == "NAM"
    assert by_code["TR"]["currency"] == "TRY"
    assert by_code["KR"]["currency"] == "KRW"
    assert by_code["DE"]["region"] == "Europe"
    assert {"NL", "SG", "KR", "AE", "CN"} <= reference.country_codes()
    assert {"USD", "EUR", "CNY", "KRW", "JPY", "ZAR"} <= reference.currency_codes()
    assert all(len(code) == 3 and code.isupper() for code in reference.currency_codes())


def test_locations_have_known_ports_with_coordinates() -> None:
    frame = reference.locations()
    for column in ("locode", "country", "name", "is_seaport", "is_airport", "lat", "lon"):
        assert column in frame.columns
    assert frame["locode"].is_unique().all()
    assert frame["locode"].str.contains(LOCODE_PATTERN).all()
    assert frame.filter(pl.col("is_seaport")).height >= 15_000
    assert frame.filter(pl.col("is_airport")).height >= 8_000
    known = frame.filter(pl.col("locode").is_in(["NLRTM", "SGSIN", "KRPUS", "AEJEA"]))
    assert known.height == 4
    assert known["is_seaport"].all()
    assert known["lat"].is_not_null().all() and known["lon"].is_not_null().all()
    rotterdam = frame.filter(pl.col("locode") == "NLRTM").row(0, named=True)
    assert rotterdam["lat"] == pytest.approx(51.92, abs=0.1)
    assert rotterdam["lon"] == pytest.approx(4.5, abs=0.1)
    assert frame.filter(pl.col("locode") == "KRICN")["is_airport"].item()
    assert frame["lat"].null_count() / frame.height < 0.02
    assert frame["lat"].drop_nulls().abs().max() <= 90  # type: ignore[operator]
    assert {"NLRTM", "SGSIN"} <= reference.locodes()


def test_shipped_locations_file_stays_compact() -> None:
    assert reference.LOCATIONS_FILE.stat().st_size < 3_000_000


def test_shipped_currency_rates_cover_common_currencies() -> None:
    rates = reference.currency_rates()
    assert rates.columns[:3] == ["currency", "units_per_usd", "as_of"]
    assert rates.schema["units_per_usd"] == pl.Float64
    assert rates.schema["as_of"] == pl.Date
    assert rates.height >= 40
    wanted = {"USD", "EUR", "CNY", "KRW", "JPY", "GBP", "INR", "RUB", "AED", "TRY"}
    assert wanted <= reference.convertible_currencies()
    assert reference.convertible_currencies() <= reference.currency_codes()
    by_code = dict(rates.select("currency", "units_per_usd").iter_rows())
    assert by_code["USD"] == 1.0
    assert 0.5 < by_code["EUR"] < 1.5
    assert 1_000 < by_code["KRW"] < 2_000
    assert (rates["basis"] == "indicative").all()


def test_replacement_rate_file_is_read(tmp_path: Path) -> None:
    replacement = tmp_path / "official.csv"
    replacement.write_text(
        "currency,units_per_usd,as_of\nUSD,1,2026-11-27\nEUR,0.91,2026-11-27\n", encoding="utf-8"
    )
    rates = reference.currency_rates(replacement)
    assert rates.columns == ["currency", "units_per_usd", "as_of"]
    assert rates["units_per_usd"].to_list() == [1.0, 0.91]
    assert reference.convertible_currencies(replacement) == {"USD", "EUR"}


def test_edited_rate_file_is_read_again(tmp_path: Path) -> None:
    replacement = tmp_path / "rates.csv"
    replacement.write_text("currency,units_per_usd,as_of\nEUR,0.9,2026-11-27\n", encoding="utf-8")
    assert reference.currency_rates(replacement)["units_per_usd"].item() == 0.9
    replacement.write_text(
        "currency,units_per_usd,as_of\nEUR,0.95,2026-11-28\nGBP,0.8,2026-11-28\n", encoding="utf-8"
    )
    assert reference.currency_rates(replacement).height == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("currency,units_per_usd,as_of\nEUR,abc,2026-11-27\n", "line 2, field units_per_usd"),
        (
            "currency,units_per_usd,as_of\nEUR,0.9,2026-11-27\nXXX,2,2026-11-27\n",
            "line 3, field currency",
        ),
        ("currency,units_per_usd,as_of\nEUR,-1,2026-11-27\n", "must be a positive number"),
        ("currency,units_per_usd,as_of\nEUR,0.9,27/11/2026\n", "line 2, field as_of"),
        (
            "currency,units_per_usd,as_of\nEUR,0.9,2026-11-27\nEUR,0.9,2026-11-27\n",
            "already given on line 2",
        ),
        ("currency,units_per_usd,as_of\nUSD,1.1,2026-11-27\n", "USD must be 1"),
        ("currency,rate\nEUR,0.9\n", "line 1: missing column(s) units_per_usd, as_of"),
        ("currency,units_per_usd,as_of\nEUR,0.9\n", "line 2: expected 3 fields, found 2"),
        ("currency,units_per_usd,as_of\n", "no rate rows"),
        ("", "empty file"),
    ],
)
def test_malformed_rate_file_names_file_line_and_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    bad = tmp_path / "bad_rates.csv"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad_rates\.csv") as caught:
        reference.currency_rates(bad)
    assert expected in str(caught.value)


def test_every_problem_in_a_rate_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "rates.csv"
    bad.write_text(
        "currency,units_per_usd,as_of\nEUR,x,2026-11-27\nGBP,0.8,someday\n", encoding="utf-8"
    )
    with pytest.raises(ValueError) as caught:
        reference.currency_rates(bad)
    message = str(caught.value)
    assert "line 2, field units_per_usd" in message
    assert "line 3, field as_of" in message


def test_missing_rate_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere\.csv: cannot read"):
        reference.currency_rates(tmp_path / "nowhere.csv")
    with pytest.raises(ValueError, match="cannot read currency rate file"):
        reference.currency_rates(tmp_path)


def test_semicolon_rate_file_gets_a_hint(tmp_path: Path) -> None:
    excel = tmp_path / "rates.csv"
    excel.write_text("currency;units_per_usd;as_of\nEUR;0,9;2026-11-27\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must be comma-separated"):
        reference.currency_rates(excel)


def test_rate_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    latin = tmp_path / "rates.csv"
    latin.write_bytes(
        "currency,units_per_usd,as_of,note\nEUR,0.9,2026-11-27,März\n".encode("latin-1")
    )
    with pytest.raises(ValueError, match="not UTF-8"):
        reference.currency_rates(latin)


def test_strategic_list_covers_cbrn_salw_and_dual_use() -> None:
    frame = reference.strategic_hs()
    assert frame.columns == ["hs_prefix", "threat", "category", "description", "source"]
    assert set(frame["threat"].unique()) <= set(reference.THREATS)
    assert frame["hs_prefix"].is_unique().all()
    assert frame["hs_prefix"].str.contains(r"^(\d{4}|\d{6})$").all()
    assert frame.select(pl.all().is_null().any()).row(0) == (False,) * 5
    threat = dict(frame.select("hs_prefix", "threat").iter_rows())
    assert threat["281213"] == "cbrn"
    assert threat["930190"] == "salw"
    assert threat["284420"] == "cbrn"
    assert threat["871000"] == "military"
    for dual_use in ("841989", "842119", "850440", "7224", "681511", "903010", "8806"):
        assert threat[dual_use] == "dual_use"
    # Every prefix must name real HS 2022 codes, or it would never match a declaration.
    known = set(reference.hs_nomenclature()["hs_code"])
    assert set(frame["hs_prefix"]) <= known


def test_catalogue_describes_every_table() -> None:
    tables = {table.name: table for table in reference.catalogue()}
    assert set(tables) == {
        "hs_nomenclature",
        "hs6",
        "countries",
        "locations",
        "currency_rates",
        "strategic_hs",
    }
    assert tables["hs6"].rows == len(reference.hs6_codes())
    assert "indicative" in tables["currency_rates"].version
    assert all(table.file.exists() and table.licence for table in tables.values())


def test_locode_source_rows_with_split_names_are_repaired(tmp_path: Path) -> None:
    source = tmp_path / "locode.csv"
    header = (
        "country,location,name,nameWoDiacritics,subdivision,status,function,iata,lat,lon,geocoded"
    )
    source.write_text(
        f"{header}\n"
        "NL,RTM,Rotterdam,Rotterdam,ZH,AF,12345---,,51.9166,4.5,\n"
        'BS,ASD,"""Andros Town"," Andros Island""","""Andros Town"," Andros Island""",,'
        "1--4----,24.7,-77.76667,true\n"
        "IT,FCO,Fiumicino,Fiumicino,RM,AI,1-------,,,,\n"
        "IT,FCO,Fiumicino Apt/Roma,Fiumicino Apt/Roma,RM,AI,---4----,,41.8,12.25,\n"
        "AD,ZZZ,Nowhere,Nowhere,,RL,0-------,,42.5,1.5,\n",
        encoding="utf-8",
    )
    frame = build.build_locations(source)
    rows = {row["locode"]: row for row in frame.iter_rows(named=True)}
    assert set(rows) == {"NLRTM", "BSASD", "ITFCO"}
    assert rows["BSASD"]["name"] == "Andros Town, Andros Island"
    assert rows["BSASD"]["is_seaport"] and rows["BSASD"]["is_airport"]
    assert rows["BSASD"]["coordinates_geocoded"]
    # Two listings of one code: flags merge, coordinates come from the listing that has them.
    assert rows["ITFCO"]["is_seaport"] and rows["ITFCO"]["is_airport"]
    assert rows["ITFCO"]["lat"] == pytest.approx(41.8)


def test_unrepairable_locode_row_is_an_error_naming_the_line(tmp_path: Path) -> None:
    source = tmp_path / "locode.csv"
    header = (
        "country,location,name,nameWoDiacritics,subdivision,status,function,iata,lat,lon,geocoded"
    )
    source.write_text(
        f"{header}\nNL,RTM,Rotterdam,Rotterdam,ZH,AF,12345---,,51.9,4.5,\n"
        "NL,AMS,Amsterdam,Amsterdam,NH,AF,sea,,52.4,4.9,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"locode\.csv, line 3"):
        build.build_locations(source)


def test_cli_prints_the_catalogue(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "reference"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("hs_nomenclature", "locations", "currency_rates", "strategic_hs", "UN/LOCODE"):
        assert name in result.output
    assert "indicative" in result.output


def test_cli_reads_a_replacement_rate_file(tmp_path: Path) -> None:
    rates = tmp_path / "official.csv"
    rates.write_text(
        "currency,units_per_usd,as_of\nUSD,1,2026-11-20\nEUR,0.9,2026-11-27\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "reference", "--rates", str(rates)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "as of 2026-11-20 to 2026-11-27" in result.output
    assert "replacement file" in result.output


def test_cli_reports_a_malformed_rate_file(tmp_path: Path) -> None:
    rates = tmp_path / "broken.csv"
    rates.write_text("currency,units_per_usd,as_of\nEUR,many,2026-11-27\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "reference", "--rates", str(rates)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "line 2, field units_per_usd" in result.output


def test_cli_build_writes_the_derived_tables(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for folder in ("hs", "countries", "locode"):
        (source / folder).mkdir(parents=True)
    (source / "hs" / "harmonized-system_HS2022.csv").write_text(
        "\ufeffsection,hscode,description,parent,level\n"
        "XIX,93,Arms and ammunition,TOTAL,2\n"
        "XIX,9301,Military weapons,93,4\n"
        "XIX,930190,Military weapons; n.e.c.,9301,6\n"
        "TOTAL,99,Commodities not specified according to kind,TOTAL,2\n"
        "TOTAL,TOTAL,Total of all HS2022 commodities,TOTAL,5\n",
        encoding="utf-8",
    )
    (source / "hs" / "sections.csv").write_text(
        "section,name\nXIX,Arms and ammunition\n", encoding="utf-8"
    )
    (source / "countries" / "country-codes.csv").write_text(
        "ISO3166-1-Alpha-2,ISO3166-1-Alpha-3,CLDR display name,Region Name,Sub-region Name,"
        "ISO4217-currency_alphabetic_code\n"
        'NA,NAM,Namibia,Africa,Sub-Saharan Africa,"NAD,ZAR"\n'
        "TR,TUR,Türkiye,Asia,Western Asia,\n",
        encoding="utf-8",
    )
    (source / "locode" / "unlocode_geoapify_all.csv").write_text(
        "country,location,name,nameWoDiacritics,subdivision,status,function,iata,lat,lon,geocoded\n"
        "NL,RTM,Rotterdam,Rotterdam,ZH,AF,12345---,,51.9166,4.5,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["--home", str(tmp_path), "reference", "build", "--source", str(source), "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    hs = pl.read_parquet(out / reference.HS_FILE.name)
    assert hs["hs_code"].to_list() == ["93", "9301", "930190"]
    countries = pl.read_parquet(out / reference.COUNTRIES_FILE.name)
    assert countries["currency"].to_list() == ["NAD", "TRY"]
    assert countries["currencies"].to_list() == [["NAD", "ZAR"], ["TRY"]]
    assert pl.read_parquet(out / reference.LOCATIONS_FILE.name)["locode"].to_list() == ["NLRTM"]
    assert (out / reference.HS_SECTIONS_FILE.name).read_text(encoding="utf-8").startswith("section")
