"""The simulate stage: a world run for a number of days, written to the landing and truth zones.

Writes landing/declarations/declarations_D.csv and landing/outcomes/outcomes_D.csv per day,
truth/ground_truth.parquet (one row per threat item), truth/invalid_rows.parquet (one row per
row that breaks the contract on purpose) and truth/world.json (seed and parameters).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines.io import write_parquet, write_text
from pipelines.settings import Settings
from simulator.day import TRUTH_SCHEMA, generate_day
from simulator.inspections import inspect_day
from simulator.world import World, WorldParameters, build_world
from simulator.writer import (
    declarations_path,
    outcomes_path,
    write_declarations,
    write_outcomes,
)

# Random streams are keyed by (seed, purpose, day) so any day can be regenerated alone.
TRAFFIC, INSPECTION = 1, 2


@dataclass
class SimulationResult:
    """What a simulation wrote and how much of it."""

    start: date
    days: int
    seed: int
    rows: int = 0
    invalid_rows: int = 0
    amendments: int = 0
    inspections: int = 0
    findings: int = 0
    threats_by_scenario: dict[str, int] = field(default_factory=dict)
    declaration_files: list[Path] = field(default_factory=list)
    outcome_files: list[Path] = field(default_factory=list)
    truth_file: Path | None = None
    world_file: Path | None = None

    @property
    def threats(self) -> int:
        """Threat items in all."""
        return sum(self.threats_by_scenario.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (paths as strings)."""
        data = asdict(self)
        data["threats"] = self.threats
        plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
        return plain


def day_rng(seed: int, purpose: int, day: date) -> np.random.Generator:
    """The random stream of one purpose on one day."""
    return np.random.default_rng([seed, purpose, day.toordinal()])


def finding_notes(world: World) -> dict[str, str]:
    """Scenario name -> the note an inspector writes on a finding."""
    return {s.name: s.finding_note for s in world.scenarios}


def simulate_world(  # noqa: PLR0917 (the agreed stage signature)
    settings: Settings,
    start: date,
    days: int,
    declarations_per_day: int,
    threat_rate: float = 1 / 5000,
    scenarios: tuple[str, ...] | None = None,
    seed: int | None = None,
    *,
    params: WorldParameters | None = None,
    on_day: Callable[[date], None] | None = None,
) -> SimulationResult:
    """Simulate `days` days from `start` with about `declarations_per_day` rows a day.

    Same settings, arguments and seed give byte-identical files.
    """
    if days < 1 or declarations_per_day < 1:
        raise ValueError("days and declarations_per_day must be at least 1")
    seed = settings.seed if seed is None else seed
    base = params or WorldParameters()
    params = base.model_copy(update={"threat_rate": threat_rate, "scenarios": scenarios})
    WorldParameters.model_validate(params.model_dump())
    world = build_world(seed, start, days, params=params)
    landing = settings.zone("landing")
    result = SimulationResult(start=start, days=days, seed=seed)
    truths: list[pl.DataFrame] = []
    invalid: list[pl.DataFrame] = []
    carried = pl.DataFrame()
    notes = finding_notes(world)
    for offset in range(days):
        day = start + timedelta(days=offset)
        count = round(declarations_per_day * params.volume_factor(day))
        frame, truth = generate_day(world, day, count, day_rng(seed, TRAFFIC, day))
        filed_day = pl.col("filed_at").dt.date()
        # Amendments filed after midnight belong to the next day's file.
        later = frame.filter((filed_day > day) & pl.col("_invalid").is_null())
        today = frame.filter(~((filed_day > day) & pl.col("_invalid").is_null()))
        if carried.height:
            today = pl.concat([carried, today])
        carried = later
        outcomes = inspect_day(world, frame, truth, day_rng(seed, INSPECTION, day), notes)
        result.declaration_files.append(write_declarations(today, declarations_path(landing, day)))
        result.outcome_files.append(write_outcomes(outcomes, outcomes_path(landing, day)))
        result.rows += today.height
        result.amendments += frame.height - frame.unique(["declaration_id", "item_no"]).height
        result.inspections += outcomes.height
        result.findings += int((outcomes["result"] == "finding").sum())
        truths.append(truth)
        invalid.append(
            frame.filter(pl.col("_invalid").is_not_null()).select(
                "declaration_id",
                "item_no",
                pl.lit(day).alias("filed_date"),
                pl.col("_invalid").alias("broken_rule"),
            )
        )
        if on_day is not None:
            on_day(day)
    truth_all = pl.concat(truths) if truths else pl.DataFrame(schema=TRUTH_SCHEMA)
    invalid_all = pl.concat(invalid)
    result.invalid_rows = invalid_all.height
    result.threats_by_scenario = dict(
        (str(name), int(n))
        for name, n in truth_all.group_by("scenario").len().sort("scenario").iter_rows()
    )
    truth_zone = settings.zone("truth")
    result.truth_file = write_parquet(truth_all, truth_zone / "ground_truth.parquet")
    write_parquet(invalid_all, truth_zone / "invalid_rows.parquet")
    description = world.describe() | {
        "days": days,
        "declarations_per_day": declarations_per_day,
        "summary": {k: v for k, v in result.as_dict().items() if not k.endswith(("files", "file"))},
    }
    result.world_file = write_text(
        json.dumps(description, indent=2, sort_keys=True) + "\n", truth_zone / "world.json"
    )
    return result
