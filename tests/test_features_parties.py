"""Given/expect tests of the history features: a hand-written state in, features out."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from features.build import build_features
from features.history import (
    ENTITIES,
    HistoryState,
    attribute_outcomes,
    empty_state,
    rollup_day,
)
from features.parties import PRIOR_WEIGHT
from tests.factories.feature_world import declarations, outcomes, refs

DAY = date(2026, 3, 10)


def state(**tables: pl.DataFrame) -> HistoryState:
    base = empty_state(DAY)
    merged = dict(base.tables)
    for name, frame in tables.items():
        merged[name] = pl.concat([base.table(name), frame], how="diagonal_relaxed").with_columns(
            pl.col(c).fill_null(0) for c in ("n_inspected", "n_findings")
        )
    return HistoryState(DAY, merged)


def row(**values: object) -> pl.DataFrame:
    return pl.DataFrame([values])


def test_party_age_counts_and_newness() -> None:
    history = state(
        consignee=row(
            consignee_id="C1",
            first_seen=DAY - timedelta(days=3),
            last_seen=DAY - timedelta(1),
            n_items=7,
        )
    )
    frame = build_features(
        declarations(DAY, {"consignee_id": "C1"}, {"consignee_id": "NEW"}), history, refs()
    )
    assert frame["consignee_age_days"].to_list() == [3, 0]
    assert frame["consignee_is_new"].to_list() == [False, True]
    assert frame["consignee_n_items"].to_list() == [7, 0]


def test_finding_rate_is_smoothed_towards_the_overall_rate() -> None:
    history = state(
        **{
            "global": row(scope="all", n_items=1000, n_inspected=100, n_findings=10),
            "shipper": row(shipper_id="S1", n_items=10, n_inspected=5, n_findings=5),
        }
    )
    frame = build_features(
        declarations(DAY, {"shipper_id": "S1"}, {"shipper_id": "S2"}), history, refs()
    )
    overall = 0.1
    expected_s1 = (5 + PRIOR_WEIGHT * overall) / (5 + PRIOR_WEIGHT)
    assert frame["shipper_finding_rate"].to_list() == pytest.approx([expected_s1, overall])
    assert frame["shipper_n_findings"].to_list() == [5, 0]
    assert frame["shipper_inspection_rate"][1] == pytest.approx(0.1)


def test_hub_risk_is_the_riskiest_hub() -> None:
    history = state(
        **{
            "global": row(scope="all", n_items=100, n_inspected=100, n_findings=0),
            "hub": pl.DataFrame(
                {
                    "hub": ["BBHUB", "CCHUB"],
                    "n_items": [50, 4],
                    "n_inspected": [20, 4],
                    "n_findings": [0, 4],
                }
            ),
        }
    )
    frame = build_features(
        declarations(
            DAY, {"transshipment_ports": ["BBHUB", "CCHUB"]}, {"transshipment_ports": None}
        ),
        history,
        refs(),
    )
    assert frame["hub_finding_rate"].to_list() == pytest.approx([4 / (4 + PRIOR_WEIGHT), None])
    assert frame["hub_min_n_items"].to_list() == [4, None]


def test_value_per_kg_against_the_hs6_history() -> None:
    # Ten earlier items of 940360 at 10 USD/kg, then one at 10 and one at 0.1 USD/kg.
    earlier = declarations(DAY - timedelta(days=1), *[{"declared_value": 1000.0}] * 10)
    credited = attribute_outcomes(outcomes(DAY).clear(), earlier.lazy())
    rollup = rollup_day(earlier, credited, DAY - timedelta(1), refs().currency_rates)
    history = HistoryState(DAY, {e.name: rollup[e.name] for e in ENTITIES})
    frame = build_features(
        declarations(DAY, {"declared_value": 1000.0}, {"declared_value": 10.0}), history, refs()
    )
    assert frame["hs6_value_history_n"].to_list() == [10, 10]
    z_same, z_cheap = frame["value_per_kg_robust_z"].to_list()
    assert abs(z_same) < 0.5
    assert z_cheap < -10
    below = frame["value_per_kg_times_below_hs6_median"].to_list()
    assert below[1] == pytest.approx(100, rel=0.3)
