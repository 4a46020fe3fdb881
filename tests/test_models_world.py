"""A small synthetic world with a known threat signal, for the model tests.

Grain of `World.features`: one row per declaration item; `World.outcomes`: one inspection per
row chosen by an old rules-like policy or by a 1% random draw. The truth (planted threats) is
kept apart, as the pipeline never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

FEATURES = (
    "consignee_age_days",
    "value_per_kg_ratio",
    "strategic_hs",
    "route_risk",
    "noise_a",
    "noise_b",
)
PHRASES = {
    "consignee_age_days": "consignee first seen {value} days ago",
    "value_per_kg_ratio": "value per kg {value}x the HS median",
    "strategic_hs": "HS code on the strategic goods list",
    "route_risk": "route risk {value}",
}
PORTS = ("NLRTM", "DEHAM", "BEANR")
START = date(2026, 1, 1)


@dataclass(frozen=True)
class World:
    """Features, outcomes, the planted truth per row and the old policy's score."""

    features: pl.DataFrame
    outcomes: pl.DataFrame
    truth: pl.DataFrame


def make_world(days: int = 24, rows_per_day: int = 3000, seed: int = 7) -> World:
    """Threats planted by known rules: CBRN by strategic HS and new consignees, SALW by low
    value per kg and risky routes. The old policy inspects the top 4% by a partly informative
    rules score; 1% of the rest is drawn at random."""
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    day_index = np.repeat(np.arange(days), rows_per_day)
    consignee_age = np.floor(rng.exponential(400, n))
    value_ratio = np.round(rng.lognormal(0, 1, n), 4)
    strategic = (rng.random(n) < 0.08).astype(np.int64)
    route_risk = np.round(rng.random(n), 4)
    noise_a, noise_b = rng.normal(size=n), rng.normal(size=n)
    cbrn_logit = -6.5 + 3.0 * strategic + 2.5 * (consignee_age < 30)
    salw_logit = -6.5 + 2.5 * (value_ratio < 0.2) + 3.0 * (route_risk > 0.85)
    cbrn = rng.random(n) < 1 / (1 + np.exp(-cbrn_logit))
    salw = (rng.random(n) < 1 / (1 + np.exp(-salw_logit))) & ~cbrn
    rules_score = strategic + (route_risk > 0.7) + 0.5 * rng.random(n)
    filed_at = [
        datetime(START.year, START.month, START.day, tzinfo=UTC)
        + timedelta(days=int(d), seconds=int(s))
        for d, s in zip(day_index, rng.integers(0, 86_000, n), strict=True)
    ]
    ids = [f"D{d:03d}-{i:05d}" for d, i in zip(day_index, np.arange(n) % rows_per_day, strict=True)]
    features = pl.DataFrame(
        {
            "declaration_id": ids,
            "item_no": np.ones(n, dtype=np.int64),
            "port_of_discharge": [PORTS[i % len(PORTS)] for i in range(n)],
            "filed_at": pl.Series(filed_at, dtype=pl.Datetime("us", "UTC")),
            "consignee_age_days": consignee_age,
            "value_per_kg_ratio": value_ratio,
            "strategic_hs": strategic,
            "route_risk": route_risk,
            "noise_a": noise_a,
            "noise_b": noise_b,
        }
    )
    threshold = np.quantile(rules_score, 0.96)
    policy = rules_score >= threshold
    random_draw = ~policy & (rng.random(n) < 0.01)
    chosen = np.flatnonzero(policy | random_draw)
    category = np.where(cbrn, "cbrn", np.where(salw, "salw", None))
    outcomes = pl.DataFrame(
        {
            "declaration_id": [ids[i] for i in chosen],
            "item_no": pl.Series([None] * chosen.size, dtype=pl.Int64),
            "inspected_at": pl.Series(
                [filed_at[i] + timedelta(days=1) for i in chosen], dtype=pl.Datetime("us", "UTC")
            ),
            "selection_reason": ["rule" if policy[i] else "random" for i in chosen],
            "result": ["finding" if category[i] else "no_finding" for i in chosen],
            "finding_category": [category[i] for i in chosen],
            "inspector_id": ["I1"] * chosen.size,
        }
    )
    truth = features.select("declaration_id", "item_no", "port_of_discharge").with_columns(
        truth_cbrn=pl.Series(cbrn.astype(np.int8)),
        truth_salw=pl.Series(salw.astype(np.int8)),
        rules_score=pl.Series(rules_score),
    )
    return World(features=features, outcomes=outcomes, truth=truth)


def test_world_plants_rare_threats_and_a_random_sample() -> None:
    world = make_world(days=4, rows_per_day=2000)
    base_rate = world.truth["truth_cbrn"].mean()
    assert isinstance(base_rate, float)
    assert 0.001 < base_rate < 0.05
    reasons = world.outcomes["selection_reason"].value_counts().sort("selection_reason")
    assert reasons["selection_reason"].to_list() == ["random", "rule"]
    assert world.features.height == 8000
