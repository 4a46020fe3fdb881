from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.io import file_sha256
from pipelines.settings import Settings, load_settings
from pipelines.watchlists.diff import diff_entries, diff_versions
from pipelines.watchlists.entries import SHIPPED, WatchlistError, country_code
from pipelines.watchlists.national import load_national
from pipelines.watchlists.ofac import load_ofac
from pipelines.watchlists.shipped import NATIONAL_SAMPLE
from pipelines.watchlists.store import (
    current_version,
    entries_in_force,
    manifests,
    read_entries,
    store_list,
)
from pipelines.watchlists.un import load_un

UN_2024 = SHIPPED / "un_sc_consolidated_2024-09-26.xml"
UN_2020 = SHIPPED / "un_sc_consolidated_2020-11-30.xml"
OFAC = SHIPPED / "ofac-2021-04"
DAMAGED = Path(__file__).parent / "data" / "watchlists" / "un_damaged_latin1.xml"


@pytest.fixture(scope="module")
def un_2024():  # type: ignore[no-untyped-def]
    return load_un(UN_2024)


@pytest.fixture(scope="module")
def un_2020():  # type: ignore[no-untyped-def]
    return load_un(UN_2020)


def _repaired(tmp_path: Path) -> Path:
    """The damaged fixture with its two bad bytes fixed: a small valid UN file."""
    fixed = tmp_path / "repaired.xml"
    fixed.write_bytes(DAMAGED.read_bytes().replace(b"\xe9", b"e").replace(b"\x19", b"'"))
    return fixed


def _settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, home=tmp_path)


def test_un_list_loads_names_aliases_and_countries(un_2024) -> None:  # type: ignore[no-untyped-def]
    assert un_2024.version == "2024-09-26"
    assert un_2024.entry_count == 682 + 193
    anwari = un_2024.entries.filter(pl.col("entry_id") == "TAi.005")
    assert set(anwari.get_column("name_quality")) == {"primary", "good", "low"}
    assert "Haji Mudir" in anwari.filter(pl.col("name_quality") == "low").get_column("name")
    assert anwari.get_column("countries")[0].to_list() == ["AF"]
    assert anwari.get_column("program")[0] == "Taliban"
    assert anwari.get_column("entity_type")[0] == "individual"
    # The UN file breaks its own XSD's child order in 42 places: tolerated, but recorded.
    assert un_2024.notes and un_2024.notes[0].startswith("42 child-order deviation")


def test_damaged_un_file_is_rejected_with_its_place() -> None:
    with pytest.raises(WatchlistError) as caught:
        load_un(DAMAGED)
    message = str(caught.value)
    assert "\n" not in message
    assert "un_damaged_latin1.xml: line 54, column 4: byte 0xe9 is not valid UTF-8" in message


def test_control_characters_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "ctrl.xml"
    bad.write_bytes(DAMAGED.read_bytes().replace(b"\xe9", b"e"))
    with pytest.raises(WatchlistError, match=r"line \d+, column \d+: control character 0x19"):
        load_un(bad)


def test_repaired_small_file_loads(tmp_path: Path) -> None:
    loaded = load_un(_repaired(tmp_path))
    assert loaded.version == "2025-08-16"
    assert loaded.entries.get_column("entry_id").unique().sort().to_list() == ["CDi.001", "CDi.002"]


def test_xsd_type_error_rejects_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad_date.xml"
    text = _repaired(tmp_path).read_text(encoding="utf-8")
    bad.write_text(text.replace("<LISTED_ON>", "<LISTED_ON>x", 1), encoding="utf-8")
    with pytest.raises(WatchlistError, match=r"INDIVIDUAL\[1\]/LISTED_ON: breaks sc-sanctions"):
        load_un(bad)


def test_truncated_xml_is_rejected_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "cut.xml"
    bad.write_bytes(_repaired(tmp_path).read_bytes()[:3000])
    with pytest.raises(WatchlistError, match=r"cut.xml: line \d+, column \d+: not well-formed"):
        load_un(bad)


def test_ofac_set_loads_with_aliases_and_address_countries() -> None:
    loaded = load_ofac(OFAC / "sdn.csv", "2021-04", alt=OFAC / "alt.csv", add=OFAC / "add.csv")
    assert loaded.entry_count == 8890
    cuba_bank = loaded.entries.filter(pl.col("entry_id") == "306")
    assert set(cuba_bank.get_column("name")) == {"BANCO NACIONAL DE CUBA", "NATIONAL BANK OF CUBA"}
    assert "CH" in cuba_bank.get_column("countries")[0].to_list()
    assert cuba_bank.get_column("program")[0] == "CUBA"
    # `-0-` is null, not a name or a title.
    assert not loaded.entries.filter(pl.col("name").str.contains("-0-")).height


def test_ofac_row_with_wrong_field_count_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "sdn.csv"
    lines = (OFAC / "sdn.csv").read_bytes().split(b"\r\n")
    lines[2] = b'424,"BOUTIQUE LA MAISON",-0- ,"CUBA"'
    bad.write_bytes(b"\r\n".join(lines))
    with pytest.raises(WatchlistError, match=r"sdn.csv: line 3: 4 fields, expected 12"):
        load_ofac(bad, "2021-04")


def test_national_csv_loads_and_checks_its_fields(tmp_path: Path) -> None:
    loaded = load_national(NATIONAL_SAMPLE, "national-xx", "2026-11-01")
    assert loaded.entry_count == 4
    assert loaded.entries.filter(pl.col("entry_id") == "NAT-0002").get_column("countries")[
        0
    ].to_list() == ["RU", "BY"]
    bad = tmp_path / "bad.csv"
    bad.write_text("entry_id,name,name_quality\nX1,Someone,weak\n", encoding="utf-8")
    with pytest.raises(WatchlistError, match=r"bad.csv: line 2: name_quality 'weak'"):
        load_national(bad, "national-xx", "2026-11-01")
    bad.write_text("id,name\nX1,Someone\n", encoding="utf-8")
    with pytest.raises(WatchlistError, match=r"line 1: missing column\(s\) entry_id"):
        load_national(bad, "national-xx", "2026-11-01")
    with pytest.raises(WatchlistError, match="list name"):
        load_national(NATIONAL_SAMPLE, "../etc", "2026-11-01")


def test_store_versions_and_keeps_the_newest_in_force(tmp_path: Path, un_2024, un_2020) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    manifest = store_list(un_2024, settings)
    assert manifest["in_force"] and manifest["entry_count"] == 875
    assert manifest["sources"][0]["sha256"] == file_sha256(UN_2024)
    older = store_list(un_2020, settings)
    assert not older["in_force"]
    assert current_version(settings, "un") == "2024-09-26"
    assert [(m["version"], m["in_force"]) for m in manifests(settings)] == [
        ("2020-11-30", False),
        ("2024-09-26", True),
    ]
    assert read_entries(settings, "un").equals(un_2024.entries)
    assert entries_in_force(settings).height == un_2024.entries.height


def test_damaged_load_leaves_the_version_in_force(tmp_path: Path, un_2024) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    store_list(un_2024, settings)
    pointer = settings.zone("watchlists") / "un" / "current.json"
    before = pointer.read_bytes()
    with pytest.raises(WatchlistError):
        store_list(load_un(DAMAGED), settings)
    assert pointer.read_bytes() == before
    assert json.loads(before)["version"] == "2024-09-26"
    assert sorted(p.name for p in (settings.zone("watchlists") / "un").iterdir()) == [
        "2024-09-26",
        "current.json",
    ]


def test_diff_between_real_un_versions(tmp_path: Path, un_2024, un_2020) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    store_list(un_2024, settings)
    store_list(un_2020, settings)
    changes = diff_versions(settings, "un", "2020-11-30", "2024-09-26")
    counts = dict(changes.group_by("change").len().iter_rows())
    assert counts == {"added": 41, "removed": 184, "changed": 57}
    removed = changes.filter(pl.col("entry_id") == "IQe.003").row(0, named=True)
    assert removed["change"] == "removed" and "RAFIDAIN BANK" in removed["names_removed"]


def test_diff_of_small_frames() -> None:
    def frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=["entry_id", "name", "name_quality"], orient="row")

    old = frame([("A", "Alpha", "primary"), ("B", "Beta", "primary"), ("C", "Gamma", "primary")])
    new = frame([("A", "Alpha", "primary"), ("A", "Alfa", "good"), ("C", "Gamma", "primary")])
    new = pl.concat([new, frame([("D", "Delta", "primary")])])
    changes = diff_entries(old, new)
    assert changes.select("change", "entry_id").rows() == [
        ("added", "D"),
        ("changed", "A"),
        ("removed", "B"),
    ]
    assert changes.filter(pl.col("entry_id") == "A").get_column("names_added")[0].to_list() == [
        "Alfa"
    ]


def test_country_names_as_lists_write_them() -> None:
    assert country_code("Korea, North") == "KP"
    assert country_code("Iran (Islamic Republic of)") == "IR"
    assert country_code("Democratic People's Republic of Korea") == "KP"
    assert country_code("Bahrain (citizenship revoked in Jan. 2015)") == "BH"
    assert country_code("na") is None
