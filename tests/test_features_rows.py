"""Given/expect tests of the row-level features (each from a 1-4 row inline frame)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from features.build import build_features
from features.history import empty_state
from tests.factories.feature_world import declarations, refs

DAY = date(2026, 3, 2)


def built(*changes: dict[str, Any]) -> pl.DataFrame:
    return build_features(declarations(DAY, *changes), empty_state(DAY), refs())


def column(frame: pl.DataFrame, name: str) -> list[Any]:
    return frame.get_column(name).to_list()


def test_keys_come_first_in_input_order() -> None:
    frame = built({"declaration_id": "B"}, {"declaration_id": "A"}, {"declaration_id": "C"})
    assert frame.columns[:4] == ["declaration_id", "item_no", "port_of_discharge", "filed_at"]
    assert column(frame, "declaration_id") == ["B", "A", "C"]


def test_mass_packages_and_mode() -> None:
    frame = built({"gross_mass_kg": 1000.0, "packages": 4, "mode": "air"}, {"mode": "sea"})
    assert column(frame, "weight_per_package_kg") == [250.0, 25.0]
    assert column(frame, "gross_mass_kg_log10") == pytest.approx([3.0, 2.0])
    assert column(frame, "mode_code") == [2, 1]


def test_declarant_and_containers() -> None:
    frame = built({"declarant_id": None, "container_ids": ["MSCU1234565", "MSCU7654321"]}, {})
    assert column(frame, "has_declarant") == [False, True]
    assert column(frame, "n_containers") == [2, 0]


def test_value_is_converted_to_usd_with_the_rates() -> None:
    frame = built(
        {"declared_value": 500.0, "currency": "EUR", "gross_mass_kg": 10.0},
        {"declared_value": 0.0},
        {"currency": "XXX"},
    )
    assert column(frame, "value_per_kg_usd") == [100.0, 0.0, None]
    logs = column(frame, "value_usd_log10")
    assert logs[0] == pytest.approx(3.0)
    assert logs[1:] == [None, None]
    assert column(frame, "value_is_zero") == [False, True, False]


def test_route_detour_against_the_great_circle() -> None:
    frame = built(
        {"transshipment_ports": None},
        {"transshipment_ports": ["BBHUB"]},
        {"transshipment_ports": ["CCHUB"]},
        {"transshipment_ports": ["ZZNOC"]},
    )
    direct = column(frame, "route_direct_km")
    # 20 degrees of the equator.
    assert direct[0] == pytest.approx(2223.9, abs=0.5)
    ratios = column(frame, "route_detour_ratio")
    assert ratios[0] == pytest.approx(1.0)
    assert ratios[1] == pytest.approx(1.0)  # BBHUB lies on the straight line
    assert ratios[2] > 1.3  # CCHUB is 10 degrees off the line
    assert ratios[3] is None  # a port without coordinates gives no route length
    assert column(frame, "n_transshipments") == [0, 1, 1, 1]


def test_origin_and_dispatch_countries() -> None:
    frame = built(
        {"country_of_origin": "IR", "country_of_dispatch": "AE", "shipper_country": "AE"},
        {"country_of_dispatch": "AE"},
    )
    assert column(frame, "origin_differs_from_dispatch") == [True, True]
    assert column(frame, "dispatch_differs_from_shipper_country") == [False, True]


def test_vague_descriptions() -> None:
    frame = built(
        {"goods_description": "General cargo, spare parts"},
        {"goods_description": "wooden dining tables"},
        {"goods_description": "123 / 45"},
    )
    assert column(frame, "description_is_vague") == [True, False, True]
    assert column(frame, "description_vague_share") == [1.0, 0.0, 1.0]
    assert column(frame, "description_n_words") == [4, 3, 0]


def test_description_against_the_hs_text() -> None:
    frame = built(
        {"hs_code": "940360", "goods_description": "Wooden furniture"},
        {"hs_code": "940360", "goods_description": "pistols with ammunition"},
        {"hs_code": "999999", "goods_description": "pistols"},
    )
    assert column(frame, "description_hs_overlap") == [1.0, 0.0, None]
    assert column(frame, "description_hs_mismatch") == [False, True, None]


def test_strategic_hs_uses_the_longest_prefix() -> None:
    frame = built({"hs_code": "930200"}, {"hs_code": "93029000"}, {"hs_code": "2812110000"}, {})
    # threat codes follow contracts.reference.THREATS: cbrn, salw, dual_use, military.
    assert column(frame, "strategic_threat_code") == [2, 4, 1, 0]
    assert column(frame, "hs_is_salw") == [True, False, False, False]
    assert column(frame, "hs_is_cbrn") == [False, False, True, False]


def test_un_dangerous_goods_class() -> None:
    frame = built({"un_number": "0012"}, {"un_number": "2910"}, {"un_number": "1203"}, {})
    assert column(frame, "un_class_code") == [1, 7, 99, 0]
    assert column(frame, "has_un_number") == [True, True, True, False]


def test_rows_of_another_day_are_refused() -> None:
    rows = pl.concat([declarations(DAY, {}), declarations(date(2026, 3, 3), {"item_no": 2})])
    with pytest.raises(ValueError, match=r"filed on another day.*item 2"):
        build_features(rows, empty_state(DAY), refs())


def test_row_order_survives_every_join() -> None:
    changes = [
        {
            "declaration_id": f"D{n:03d}",
            "currency": ["EUR", "USD", "XXX"][n % 3],
            "shipper_id": f"S{n % 7}",
            "transshipment_ports": [None, ["BBHUB"]][n % 2],
        }
        for n in range(300, 0, -1)
    ]
    frame = built(*changes)
    assert column(frame, "declaration_id") == [c["declaration_id"] for c in changes]
