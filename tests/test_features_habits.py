"""Chapter value, consignee-in-chapter and shipper-wording features: values and point in time.

Each feature is built for a watched row of day D from the history advanced day by day with the
pure functions; filings of D (earlier the same day or later) and of later days that share the
feature's key must leave it unchanged, while the same filing a day earlier must move it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from features.build import build_features
from features.history import advance as advance_state
from features.history import attribute_outcomes, empty_state, rollup_day
from tests.factories.feature_world import declarations, filed_at, outcomes, refs

DAY = date(2026, 5, 10)
WATCHED: dict[str, Any] = {
    "declaration_id": "W1",
    "shipper_id": "S1",
    "consignee_id": "C1",
    "hs_code": "940360",
    "goods_description": "Wooden  Furniture",
    "declared_value": 50.0,
}
HABIT_FEATURES = (
    "value_per_kg_robust_z_hs2",
    "consignee_hs2_n_items",
    "consignee_hs2_share",
    "shipper_wording_n_items",
)


def usual(day: date, n: int, prefix: str) -> list[pl.DataFrame]:
    """`n` ordinary filings of S1 to C1 in chapter 94, 10 USD per kg, wording as usual."""
    changes = [{"declaration_id": f"{prefix}{k}", "declared_value": 1000.0} for k in range(n)]
    return [declarations(day, *changes)]


def features_of_watched(filed: dict[date, list[pl.DataFrame]]) -> dict[str, Any]:
    """Advance an empty history through every day before DAY, then build DAY's rows."""
    first = min(filed)
    state = empty_state(first)
    while state.as_of < DAY:
        day = state.as_of
        rows = pl.concat(filed.get(day, [declarations(day).clear()]))
        credited = attribute_outcomes(outcomes(day).clear(), rows.lazy())
        state = advance_state(state, rollup_day(rows, credited, day, refs().currency_rates))
    today = pl.concat([declarations(DAY, WATCHED), *filed.get(DAY, [])])
    frame = build_features(today, state, refs())
    return frame.filter(pl.col("declaration_id") == "W1").row(0, named=True)


def history() -> dict[date, list[pl.DataFrame]]:
    three, two = DAY - timedelta(days=3), DAY - timedelta(days=2)
    other_chapter = declarations(two, {"declaration_id": "O1", "hs_code": "281211"})
    return {three: usual(three, 6, "A"), two: [*usual(two, 4, "B"), other_chapter]}


def test_values_against_the_history() -> None:
    row = features_of_watched(history())
    assert row["consignee_hs2_n_items"] == 10
    assert row["consignee_hs2_share"] == pytest.approx(10 / 11)
    # Case and spacing aside, "Wooden  Furniture" is the usual "wooden furniture".
    assert row["shipper_wording_n_items"] == 11
    # 0.5 USD/kg against a chapter at 10 USD/kg: far below.
    assert row["value_per_kg_robust_z_hs2"] < -5


LOOKALIKES: dict[str, dict[str, Any]] = {
    "value_per_kg_robust_z_hs2": {"hs_code": "940190", "declared_value": 0.5},
    "consignee_hs2_n_items": {"shipper_id": "S9", "hs_code": "940190"},
    "consignee_hs2_share": {"shipper_id": "S9", "hs_code": "940190"},
    "shipper_wording_n_items": {"consignee_id": "C9", "hs_code": "281211"},
}
"""For each feature, a filing that shares only what the feature reads with the watched row."""


@pytest.mark.parametrize("name", HABIT_FEATURES)
def test_filings_of_the_day_or_later_leave_the_feature_unchanged(name: str) -> None:
    before = features_of_watched(history())[name]
    lookalike = LOOKALIKES[name]
    later = history()
    # Earlier the same day (filed_at hour 1), later that day, and on the next two days.
    later[DAY] = [
        declarations(
            DAY,
            *[
                lookalike | {"declaration_id": f"T{k}", "filed_at": filed_at(DAY, 1)}
                for k in range(16)
            ],
            *[
                lookalike | {"declaration_id": f"U{k}", "filed_at": filed_at(DAY, 23)}
                for k in range(16)
            ],
        ),
    ]
    for offset in (1, 2):
        day = DAY + timedelta(days=offset)
        later[day] = [
            declarations(day, *[lookalike | {"declaration_id": f"L{k}"} for k in range(16)])
        ]
    assert features_of_watched(later)[name] == before


@pytest.mark.parametrize("name", HABIT_FEATURES)
def test_control_the_same_filings_a_day_earlier_move_the_feature(name: str) -> None:
    before = features_of_watched(history())[name]
    earlier = history()
    day = DAY - timedelta(days=1)
    earlier[day] = [
        declarations(day, *[LOOKALIKES[name] | {"declaration_id": f"E{k}"} for k in range(16)])
    ]
    assert features_of_watched(earlier)[name] != before
