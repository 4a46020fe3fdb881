"""The displacement report: which rows of the list's order pushed a threat out of the budget."""

from __future__ import annotations

import polars as pl

from benchmarks.order_displacement import budget, displacements


def _night(ranks: list[int], risks: list[float], threats: list[str | None]) -> pl.DataFrame:
    n = len(ranks)
    return pl.DataFrame(
        {
            "port_of_discharge": ["P"] * n,
            "declaration_id": [f"D{i}" for i in range(n)],
            "item_no": [1] * n,
            "rank": ranks,
            "risk_score": risks,
            "scenario": threats,
        }
    )


def test_budget_rounds_up_so_a_small_port_inspects_one() -> None:
    assert [budget(n, 0.01) for n in (0, 50, 100, 101, 321)] == [0, 1, 1, 2, 4]


def test_a_hold_ranked_above_a_likelier_threat_is_named_as_displacing_it() -> None:
    # 100 items, top 1 % = 1: rank puts a low-risk hold first, risk alone the threat.
    risks = [0.9, 0.1] + [0.01] * 98
    night = _night([2, 1, *range(3, 101)], risks, ["cbrn", None] + [None] * 98)
    found = displacements(night, rates=(0.01,))
    assert found.select("role", "declaration_id").rows() == [
        ("displaced threat", "D0"),
        ("took its place", "D1"),
    ]
    assert found["budget"].to_list() == [1, 1]


def test_nothing_is_reported_when_the_order_keeps_every_threat_risk_finds() -> None:
    risks = [0.9, 0.1] + [0.01] * 98
    night = _night(list(range(1, 101)), risks, ["cbrn", None] + [None] * 98)
    assert displacements(night).is_empty()
