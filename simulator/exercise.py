"""Scenario exercises: inject threat rows into a day's landing data, then score how the night did.

Grain of `exercises/<id>/injected.parquet`: one row per injected threat item. Grain of the
exercise report: one row per (exercise, scenario) with catches at 1, 2, 5 and 10 % inspection.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from contracts.reading import read_raw
from pipelines import layout
from pipelines.io import write_parquet, write_text
from pipelines.settings import Settings
from simulator.day import render
from simulator.threats import Parties, Scenario, ThreatContext, draft_threats
from simulator.world import build_world
from simulator.writer import declarations_path, write_declarations

INSPECTION_RATES = (1, 2, 5, 10)
EXERCISE_PURPOSE = 3
INJECTED_SCHEMA = {
    "exercise_id": pl.String(),
    "list_date": pl.Date(),
    "scenario": pl.String(),
    "threat_category": pl.String(),
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "port_of_discharge": pl.String(),
}
RANKED_COLUMNS = {
    "list_date": pl.Date(),
    "port_of_discharge": pl.String(),
    "rank": pl.Int64(),
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "lane": pl.String(),
}
_PARTY_COLUMNS = ("shipper_id", "shipper_name", "shipper_country", "consignee_id",
                  "consignee_name", "consignee_country", "declarant_id", "mode",
                  "port_of_discharge", "declaration_id")  # fmt: skip


@dataclass(frozen=True)
class Injection:
    """One injection: where its rows went and how many threat items it holds."""

    exercise_id: str
    scenario: str
    day: date
    threat_items: int
    rows: int
    landing_file: Path
    injected_file: Path


def exercise_id_for(scenario: Scenario, day: date) -> str:
    """Exercise ids name the day and the scenario, so a rerun replaces its own injection."""
    return f"{day:%Y%m%d}-{scenario.name}"


def read_landing_day(landing: Path, day: date) -> pl.DataFrame:
    """Party, port and id columns of a day's contract-layout landing files (empty if none)."""
    folder = landing / "declarations"
    frames = []
    for path in sorted(folder.glob(f"*{day.isoformat()}*")) if folder.exists() else []:
        if "_exercise-" in path.name:
            continue
        raw = read_raw(path)
        if all(c in raw.columns for c in _PARTY_COLUMNS):
            frames.append(raw.select(_PARTY_COLUMNS))
    if not frames:
        return pl.DataFrame(schema=dict.fromkeys(_PARTY_COLUMNS, pl.String()))
    return pl.concat(frames)


def _parties(rows: pl.DataFrame, role: str) -> Parties:
    counts = (
        rows.drop_nulls([f"{role}_id", f"{role}_name", f"{role}_country"])
        .group_by(f"{role}_id", f"{role}_name", f"{role}_country")
        .len()
        .sort(f"{role}_id", f"{role}_name")
    )
    return Parties(
        counts[f"{role}_id"].to_numpy().astype(object),
        counts[f"{role}_name"].to_numpy().astype(object),
        counts[f"{role}_country"].to_numpy().astype(object),
        counts["len"].to_numpy().astype(float),
    )


def context_from_rows(rows: pl.DataFrame, fallback: ThreatContext) -> ThreatContext:
    """Established traders, declarants and discharge ports of the day's real traffic."""
    if rows.is_empty():
        return fallback
    shippers, consignees = _parties(rows, "shipper"), _parties(rows, "consignee")
    declarants = rows["declarant_id"].drop_nulls().unique().sort().to_numpy().astype(object)
    ports = {
        by_sea: rows.filter((pl.col("mode") == "sea") == by_sea)["port_of_discharge"]
        .drop_nulls()
        .unique()
        .sort()
        .to_numpy()
        .astype(object)
        for by_sea in (True, False)
    }
    return ThreatContext(
        shippers=shippers if shippers.ids.size else fallback.shippers,
        consignees=consignees if consignees.ids.size else fallback.consignees,
        declarants=declarants if declarants.size else fallback.declarants,
        discharge_ports=ports,
    )


def inject(
    settings: Settings, scenario: Scenario, day: date, count: int = 10, seed: int | None = None
) -> Injection:
    """Add `count` threat items of a scenario to the day's landing data and record them."""
    if count < 1:
        raise ValueError("count must be at least 1")
    seed = settings.seed if seed is None else seed
    landing = settings.zone("landing")
    existing = read_landing_day(landing, day)
    world = build_world(seed, day, 1, scenarios=(scenario,))
    context = context_from_rows(existing, ThreatContext.from_world(world, day))
    rng = np.random.default_rng(
        [seed, EXERCISE_PURPOSE, day.toordinal(), zlib.crc32(scenario.name.encode())]
    )
    declarations, items = draft_threats(world, scenario, count, rng, context)
    frame = render(world, day, declarations, items, rng)
    clash = frame.filter(pl.col("declaration_id").is_in(existing["declaration_id"].implode()))
    if clash.height:
        raise ValueError(f"injected declaration ids collide with {day} landing data; use --seed")
    exercise_id = exercise_id_for(scenario, day)
    landing_file = write_declarations(
        frame, declarations_path(landing, day, suffix=f"_exercise-{exercise_id}")
    )
    injected = frame.filter(pl.col("_scenario").is_not_null()).select(
        pl.lit(exercise_id).alias("exercise_id"),
        pl.lit(day).alias("list_date"),
        pl.col("_scenario").alias("scenario"),
        pl.col("_category").alias("threat_category"),
        "declaration_id",
        "item_no",
        "port_of_discharge",
    )
    folder = settings.zone("exercises") / exercise_id
    injected_file = write_parquet(injected.cast(INJECTED_SCHEMA), folder / "injected.parquet")  # type: ignore[arg-type]
    write_text(
        yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False), folder / "scenario.yaml"
    )
    return Injection(
        exercise_id, scenario.name, day, injected.height, frame.height, landing_file, injected_file
    )


def read_injected(exercises: Path, exercise_id: str | None = None) -> pl.DataFrame:
    """Injected threat items of one exercise or of all of them."""
    pattern = f"{exercise_id}/injected.parquet" if exercise_id else "*/injected.parquet"
    files = sorted(exercises.glob(pattern)) if exercises.exists() else []
    if not files:
        raise FileNotFoundError(
            f"no injected rows under {exercises / (exercise_id or '*')}; run `exercise inject`"
        )
    return pl.concat([pl.read_parquet(f) for f in files])


def read_ranked(lists: Path, days: list[date]) -> pl.DataFrame:
    """Ranked lists of the given dates (missing dates are skipped)."""
    frames = []
    for day in days:
        path = layout.partition(lists, day) / layout.LIST_FILE
        if path.exists():
            frames.append(
                pl.read_parquet(path).select(
                    pl.col("list_date").cast(pl.Date()),
                    "port_of_discharge",
                    pl.col("rank").cast(pl.Int64()),
                    "declaration_id",
                    pl.col("item_no").cast(pl.Int64()),
                    "lane",
                )
            )
    return pl.concat(frames) if frames else pl.DataFrame(schema=RANKED_COLUMNS)


def exercise_report(injected: pl.DataFrame, ranked: pl.DataFrame) -> pl.DataFrame:
    """Per exercise and scenario: injected, listed, caught at each inspection rate, red lanes,
    median and worst rank. A row is caught at k % when its rank is within the top k % of its
    port's list that day (at least one inspection per port)."""
    port_sizes = ranked.group_by("list_date", "port_of_discharge").agg(pl.len().alias("port_rows"))
    listed = ranked.join(port_sizes, on=["list_date", "port_of_discharge"]).drop(
        "port_of_discharge"
    )
    joined = injected.join(
        listed, on=["list_date", "declaration_id", "item_no"], how="left", maintain_order="left"
    )
    caught = [
        (
            pl.col("rank").is_not_null()
            & (pl.col("rank") <= (pl.col("port_rows") * rate / 100).ceil().clip(lower_bound=1))
        )
        .sum()
        .cast(pl.Int64)
        .alias(f"caught_{rate}pct")
        for rate in INSPECTION_RATES
    ]
    return (
        joined.group_by("exercise_id", "scenario")
        .agg(
            pl.len().cast(pl.Int64).alias("injected"),
            pl.col("rank").is_not_null().sum().cast(pl.Int64).alias("listed"),
            *caught,
            (pl.col("lane") == "red").sum().cast(pl.Int64).alias("red_lane"),
            pl.col("rank").median().alias("median_rank"),
            pl.col("rank").max().alias("worst_rank"),
        )
        .sort("exercise_id", "scenario")
    )


def report_for(settings: Settings, exercise_id: str | None = None) -> pl.DataFrame:
    """The exercise report from the exercises and lists zones."""
    injected = read_injected(settings.zone("exercises"), exercise_id)
    days = sorted(set(injected["list_date"].to_list()))
    return exercise_report(injected, read_ranked(settings.zone("lists"), days))
