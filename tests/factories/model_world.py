"""A small synthetic world with a known threat signal, for the model tests, and homes built on it.

Grain of `World.features`: one row per declaration item; `World.outcomes`: one inspection per
row chosen by an old rules-like policy or by a 1% random draw. The truth (planted threats) is
kept apart, as the pipeline never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features.registry import FEATURES as REGISTRY
from models.registry import ThreatModels
from models.training import label_inspected, train_threat_models
from pipelines import layout
from pipelines.io import write_parquet
from pipelines.settings import Settings, load_settings
from pipelines.train import train_models

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


CREATED = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
"""Creation time of the models the tests train."""


@cache
def training_world() -> World:
    """30 days of 3,000 rows: enough findings to train and evaluate the models in memory."""
    return make_world(days=30, rows_per_day=3000, seed=11)


@cache
def trained_models() -> tuple[ThreatModels, dict[str, Any]]:
    """Models trained on `training_world` (and the training metrics), once per test session."""
    world = training_world()
    return train_threat_models(label_inspected(world.features, world.outcomes), FEATURES, PHRASES)


HOME_DAYS = 16
LAST_TRAIN_DAY = START + timedelta(days=HOME_DAYS - 2)
SCORE_DAY = START + timedelta(days=HOME_DAYS - 1)


@cache
def home_world() -> World:
    """The world written into a data home: trained up to LAST_TRAIN_DAY, scored on SCORE_DAY."""
    return make_world(days=HOME_DAYS, rows_per_day=2500, seed=5)


def registry_frame(world: World) -> pl.DataFrame:
    """The world's rows with every registry feature: the planted signals sit in real feature
    names, the other columns are noise of the declared type."""
    rng = np.random.default_rng(3)
    n = world.features.height
    planted = {
        "consignee_age_days": world.features["consignee_age_days"],
        "hs_is_cbrn": world.features["strategic_hs"].cast(pl.Boolean),
        "value_per_kg_times_below_hs6_median": 1 / world.features["value_per_kg_ratio"],
        "route_detour_ratio": 1 + 3 * world.features["route_risk"],
    }
    columns = []
    for feature in REGISTRY:
        if feature.name in planted:
            values = planted[feature.name]
        elif feature.dtype == "bool":
            values = pl.Series(rng.random(n) < 0.2)
        elif feature.name.endswith(("_rate", "_share", "_overlap")):
            values = pl.Series(rng.random(n))
        else:
            values = pl.Series(np.floor(rng.exponential(10, n)))
        columns.append(values.alias(feature.name))
    return world.features.select(
        "declaration_id", "item_no", "port_of_discharge", "filed_at"
    ).with_columns(columns)


def write_home(home: Path, features: pl.DataFrame, outcomes: pl.DataFrame) -> Settings:
    """A data home holding `features` and `outcomes` as daily partitions."""
    settings = load_settings(environ={}, home=home)
    by_day = features.with_columns(pl.col("filed_at").dt.date().alias("_day"))
    for (day,), part in by_day.partition_by("_day", as_dict=True, include_key=False).items():
        write_parquet(part, layout.features_file(settings, day))
    by_day = outcomes.with_columns(pl.col("inspected_at").dt.date().alias("_day"))
    for (day,), part in by_day.partition_by("_day", as_dict=True, include_key=False).items():
        write_parquet(part, layout.staged_outcomes_file(settings, day))
    return settings


def train_home(settings: Settings) -> Path:
    """Train the world's models up to LAST_TRAIN_DAY in `settings`' home and make them champion."""
    return train_models(settings, LAST_TRAIN_DAY, CREATED, feature_names=FEATURES, phrases=PHRASES)
