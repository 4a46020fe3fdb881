"""Value per kg against the HS chapter's history: its value and its point in time.

The watched row of day D is built from the history advanced day by day with the pure functions.
Filings of D (earlier the same day or later) and of the next days in the same chapter must leave
its feature unchanged; the same filings a day earlier must move it (so the test can fail).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from features.build import build_features
from features.history import advance, attribute_outcomes, empty_state, rollup_day
from tests.factories.feature_world import declarations, filed_at, outcomes, refs

DAY = date(2026, 5, 10)
FEATURE = "value_per_kg_robust_z_hs2"
# 0.5 USD per kg of chapter 94 furniture (the usual filings below are at 10 USD per kg).
WATCHED: dict[str, Any] = {"declaration_id": "W1", "hs_code": "940360", "declared_value": 50.0}
SAME_CHAPTER: dict[str, Any] = {"hs_code": "940190", "declared_value": 0.5}
"""Another HS-6 of chapter 94, far cheaper: moves the chapter's median, not the HS-6's."""


def history() -> dict[date, list[pl.DataFrame]]:
    """Ten usual chapter-94 filings at 10 USD per kg, and one of chapter 28."""
    three, two = DAY - timedelta(days=3), DAY - timedelta(days=2)
    usual = [{"declaration_id": f"A{k}", "declared_value": 1000.0} for k in range(10)]
    other_chapter = {"declaration_id": "O1", "hs_code": "281211", "declared_value": 1.0}
    return {three: [declarations(three, *usual)], two: [declarations(two, other_chapter)]}


def watched_feature(filed: dict[date, list[pl.DataFrame]]) -> float:
    state = empty_state(min(filed))
    while state.as_of < DAY:
        day = state.as_of
        rows = pl.concat(filed.get(day, [declarations(day).clear()]))
        credited = attribute_outcomes(outcomes(day).clear(), rows.lazy())
        state = advance(state, rollup_day(rows, credited, day, refs().currency_rates))
    today = pl.concat([declarations(DAY, WATCHED), *filed.get(DAY, [])])
    frame = build_features(today, state, refs()).filter(pl.col("declaration_id") == "W1")
    return float(frame[FEATURE].item())


def lookalikes(day: date, prefix: str, hour: int = 10) -> pl.DataFrame:
    return declarations(
        day,
        *[
            SAME_CHAPTER | {"declaration_id": f"{prefix}{k}", "filed_at": filed_at(day, hour)}
            for k in range(16)
        ],
    )


def test_a_cheap_item_sits_far_below_its_chapter() -> None:
    assert watched_feature(history()) < -5


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_filings_of_the_day_or_later_leave_it_unchanged(offset: int) -> None:
    before = watched_feature(history())
    later = history()
    day = DAY + timedelta(days=offset)
    later[day] = [lookalikes(day, "EARLY", 1), lookalikes(day, "LATE", 23)]
    assert watched_feature(later) == before


def test_control_the_same_filings_a_day_earlier_move_it() -> None:
    before = watched_feature(history())
    earlier = history()
    day = DAY - timedelta(days=1)
    earlier[day] = [lookalikes(day, "E")]
    assert watched_feature(earlier) != before
