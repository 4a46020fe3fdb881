"""Write the declaration fixtures of this folder (synthetic; run from the repository root).

mixed.csv: 100 good rows, then one bad row per kind of breach; each bad row names the field and
rule it breaks in its extra `remarks` column, so tests read what to expect from the file itself.
amendments.csv: one key filed three times (the latest must win) and a tie on filed_at.
"""

from __future__ import annotations

import csv
from pathlib import Path

from contracts.declarations import DECLARATIONS

HERE = Path(__file__).parent
NAMES = [*DECLARATIONS.names, "remarks"]
BASE = {
    "declaration_id": "D-0001",
    "item_no": "1",
    "filed_at": "2026-11-28T08:15:00Z",
    "mode": "sea",
    "port_of_loading": "CNSHA",
    "port_of_discharge": "NLRTM",
    "transshipment_ports": "SGSIN|LKCMB",
    "expected_arrival": "2026-12-20",
    "country_of_origin": "CN",
    "country_of_dispatch": "CN",
    "shipper_id": "CN-SHP-001",
    "shipper_name": "Shanghai Tools Co",
    "shipper_country": "CN",
    "consignee_id": "NL123456789",
    "consignee_name": "Rotterdam Imports BV",
    "consignee_country": "NL",
    "declarant_id": "NL-BRK-7",
    "carrier_code": "MSCU",
    "container_ids": "MSCU1234566|TGHU9876542",
    "hs_code": "847130",
    "goods_description": "Portable computers",
    "packages": "10",
    "gross_mass_kg": "1250.5",
    "declared_value": "48000",
    "currency": "USD",
    "un_number": "",
    "remarks": "",
}
GOOD = [
    {},
    {
        "item_no": "2",
        "transshipment_ports": "",
        "container_ids": "MSCU1234566",
        "hs_code": "8413910000",
        "goods_description": "Spare parts\nfor centrifugal pumps",
        "packages": "3",
        "gross_mass_kg": "80",
        "declared_value": "1200.00",
        "currency": "EUR",
        "un_number": "1203",
    },
    {
        "declaration_id": "AWB/176-12345675",
        "filed_at": "2026-11-28T16:40:00+08:00",
        "mode": "air",
        "port_of_discharge": "FRCDG",
        "transshipment_ports": "",
        "expected_arrival": "2026-11-29",
        "container_ids": "",
        "carrier_code": "",
        "hs_code": "61091000",
        "goods_description": "Cotton T-shirts, knitted",
        "packages": "40",
        "gross_mass_kg": "320",
        "declared_value": "0",
        "currency": "CNY",
        "consignee_country": "FR",
        "remarks": "sample lot",
    },
    {
        "declaration_id": "D-0003",
        "mode": "road",
        "filed_at": "2026-11-27T23:59:59.5+00:00",
        "port_of_loading": "PLGDN",
        "port_of_discharge": "DEHAM",
        "transshipment_ports": "",
        "expected_arrival": "",
        "country_of_origin": "PL",
        "country_of_dispatch": "PL",
        "shipper_country": "PL",
        "consignee_country": "DE",
        "declarant_id": "",
        "carrier_code": "",
        "container_ids": "",
        "hs_code": "940360",
        "goods_description": "Wooden furniture",
        "packages": "12",
        "gross_mass_kg": "900",
        "declared_value": "15000",
        "currency": "EUR",
    },
    {
        "declaration_id": "D-0004",
        "expected_arrival": "2026-11-27",
        "goods_description": "Car",
        "hs_code": "870323",
        "packages": "1",
        "gross_mass_kg": "1400",
        "declared_value": "22000",
        "container_ids": "",
        "transshipment_ports": "BEANR",
    },
    *({"declaration_id": f"D-{1000 + n}", "item_no": str(1 + n % 3)} for n in range(95)),
]
BAD = [  # field, rule (as quarantined), the breach
    ("port_of_loading", "pattern", {"port_of_loading": "cnsha1"}),
    ("port_of_loading", "reference:locode", {"port_of_loading": "ZZZZZ"}),
    ("hs_code", "reference:hs6", {"hs_code": "999999"}),
    ("country_of_origin", "reference:country", {"country_of_origin": "XX"}),
    ("currency", "reference:currency", {"currency": "XYZ"}),
    ("container_ids", "iso6346_check_digit", {"container_ids": "MSCU1234566|MSCU1234567"}),
    ("item_no", "minimum", {"item_no": "0"}),
    ("gross_mass_kg", "minimum", {"gross_mass_kg": "-5"}),
    ("filed_at", "not_future", {"filed_at": "2027-06-01T00:00:00Z", "expected_arrival": ""}),
    ("shipper_id", "required", {"shipper_id": ""}),
    ("goods_description", "length", {"goods_description": "TV"}),
    ("expected_arrival", "cast:date", {"expected_arrival": "2026-02-30"}),
    ("mode", "allowed", {"mode": "boat"}),
    ("packages", "cast:integer", {"packages": "ten"}),
    ("expected_arrival", "not_before_filing", {"expected_arrival": "2026-11-01"}),
    ("filed_at", "cast:timestamp", {"filed_at": "2026-11-28T08:00:00"}),
    ("transshipment_ports", "reference:locode", {"transshipment_ports": "SGSIN|QQQQQ"}),
    ("hs_code", "pattern", {"hs_code": "84713"}),
    ("un_number", "pattern", {"un_number": "12a4"}),
    ("container_ids", "pattern", {"container_ids": "MSCU123456"}),
    ("declared_value", "minimum", {"declared_value": "-1"}),
    ("gross_mass_kg", "cast:decimal", {"gross_mass_kg": "1,5"}),
]


def write_mixed(target: Path) -> None:
    """Good rows, then one row per breach, then one row with a surplus field."""
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(NAMES)
        for change in GOOD:
            row = {**BASE, **change}
            writer.writerow([row[name] for name in NAMES])
        for number, (field, rule, change) in enumerate(BAD, start=1):
            row = {**BASE, "declaration_id": f"BAD-{number:02d}", "remarks": f"{field} {rule}"}
            row.update(change)
            writer.writerow([row[name] for name in NAMES])
        row = {**BASE, "declaration_id": "BAD-ROW", "remarks": "_row structure"}
        writer.writerow([*(row[name] for name in NAMES), "surplus"])


def write_amendments(target: Path) -> None:
    """D-0500/1 filed three times (08:00 wins over 07:00 and 06:00) and D-0501/1 twice at 09:00."""
    filings = [
        ("D-0500", "2026-11-28T07:00:00Z", "Second filing"),
        ("D-0500", "2026-11-28T08:00:00Z", "Latest filing"),
        ("D-0500", "2026-11-28T06:00:00Z", "First filing"),
        ("D-0501", "2026-11-28T09:00:00Z", "Tie, earlier line"),
        ("D-0501", "2026-11-28T09:00:00Z", "Tie, later line"),
    ]
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DECLARATIONS.names)
        for declaration_id, filed_at, description in filings:
            row = {
                **BASE,
                "declaration_id": declaration_id,
                "filed_at": filed_at,
                "goods_description": description,
            }
            writer.writerow([row[name] for name in DECLARATIONS.names])


if __name__ == "__main__":
    write_mixed(HERE / "mixed.csv")
    write_amendments(HERE / "amendments.csv")
