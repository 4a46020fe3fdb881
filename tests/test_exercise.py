"""Scenario exercises: injection into a day's landing data and the report against a ranked list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contracts.declarations import DECLARATIONS
from contracts.reading import cast_to_contract, read_raw
from pipelines.io import write_parquet
from pipelines.settings import Settings, load_settings
from simulator.exercise import exercise_report, inject, read_injected
from simulator.stage import simulate_world
from simulator.threats import resolve_scenario
from simulator.world import WorldParameters

DAY = date(2026, 2, 3)
SMALL = WorldParameters(shippers=200, consignees=150, declarants=8)


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """One simulated day without threats of its own, to inject into."""
    settings = load_settings(environ={}, home=tmp_path / "home")
    simulate_world(settings, DAY, 1, 400, threat_rate=0.0, seed=9, params=SMALL)
    return settings


def _day_rows(settings: Settings) -> pl.DataFrame:
    path = settings.zone("landing") / "declarations" / f"declarations_{DAY}.csv"
    return cast_to_contract(read_raw(path), DECLARATIONS)[0]


def test_inject_adds_recorded_threat_rows_beside_the_day(home: Settings) -> None:
    scenario = resolve_scenario("dual-use-diversion")
    done = inject(home, scenario, DAY, count=6)
    assert done.exercise_id == "20260203-dual-use-diversion"
    assert done.threat_items == 6
    assert done.landing_file.name.startswith(f"declarations_{DAY}")
    added, failures = cast_to_contract(read_raw(done.landing_file), DECLARATIONS)
    assert failures.is_empty()
    assert added.height == done.rows >= 6
    assert added["filed_at"].dt.date().unique().to_list() == [DAY]
    injected = read_injected(home.zone("exercises"), done.exercise_id)
    assert injected.height == 6
    assert set(injected["scenario"]) == {"dual-use-diversion"}
    assert injected.join(added, on=["declaration_id", "item_no"]).height == 6
    day = _day_rows(home)
    assert added.join(day, on="declaration_id").is_empty()
    # Injected rows go to the ports the day already uses.
    assert set(added["port_of_discharge"]) <= set(day["port_of_discharge"])


def test_established_parties_come_from_the_days_own_traffic(home: Settings) -> None:
    scenario = resolve_scenario("dual-use-diversion").model_copy(
        update={"consignee": {"established": 1.0}}
    )
    done = inject(home, scenario, DAY, count=5)
    added = cast_to_contract(read_raw(done.landing_file), DECLARATIONS)[0]
    assert set(added["consignee_id"]) <= set(_day_rows(home)["consignee_id"])


def test_reinjecting_replaces_the_same_exercise(home: Settings) -> None:
    scenario = resolve_scenario("ammunition-as-hardware")
    first = inject(home, scenario, DAY, count=3)
    second = inject(home, scenario, DAY, count=3)
    assert first.landing_file == second.landing_file
    assert first.landing_file.read_bytes() == second.landing_file.read_bytes()
    assert read_injected(home.zone("exercises")).height == 3


def _ranked(port: str, rows: int, placed: dict[tuple[str, int], tuple[int, str]]) -> pl.DataFrame:
    """A port's ranked list of `rows` items; `placed` puts given keys at (rank, lane)."""
    by_rank = {rank: (key, lane) for key, (rank, lane) in placed.items()}
    records = []
    for rank in range(1, rows + 1):
        (declaration_id, item_no), lane = by_rank.get(rank, ((f"{port}-{rank}", 1), "green"))
        records.append(
            {"list_date": DAY, "port_of_discharge": port, "rank": rank,
             "declaration_id": declaration_id, "item_no": item_no, "lane": lane}
        )  # fmt: skip
    return pl.DataFrame(records)


def _injected(keys: list[tuple[str, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "exercise_id": ["x"] * len(keys),
            "list_date": [DAY] * len(keys),
            "scenario": [s for _, _, s in keys],
            "threat_category": ["cbrn"] * len(keys),
            "declaration_id": [d for d, _, _ in keys],
            "item_no": [i for _, i, _ in keys],
            "port_of_discharge": ["NLRTM"] * len(keys),
        }
    )


def test_report_counts_catches_per_rate_within_each_port() -> None:
    injected = _injected([("A", 1, "s1"), ("B", 2, "s1"), ("C", 1, "s1"), ("D", 1, "s2")])
    ranked = pl.concat(
        [
            # 200 rows at NLRTM: top 1 % = ranks 1-2, 2 % = 1-4, 5 % = 1-10, 10 % = 1-20.
            _ranked("NLRTM", 200, {("A", 1): (2, "red"), ("B", 2): (9, "yellow")}),
            # 30 rows at DEHAM: top 1 % and 2 % round up to one inspection, 5 % to 2, 10 % to 3.
            _ranked("DEHAM", 30, {("C", 1): (3, "red")}),
        ]
    )
    report = exercise_report(injected, ranked)
    s1 = report.filter(pl.col("scenario") == "s1").row(0, named=True)
    assert s1["injected"] == 3
    assert s1["listed"] == 3
    assert (s1["caught_1pct"], s1["caught_2pct"], s1["caught_5pct"], s1["caught_10pct"]) == (
        1, 1, 2, 3,
    )  # fmt: skip
    assert s1["red_lane"] == 2
    assert s1["median_rank"] == 3
    assert s1["worst_rank"] == 9
    s2 = report.filter(pl.col("scenario") == "s2").row(0, named=True)
    assert s2["listed"] == 0 and s2["caught_10pct"] == 0 and s2["worst_rank"] is None


def test_cli_inject_then_report_against_a_ranked_list(home: Settings) -> None:
    from pipelines.cli import app

    runner = CliRunner()
    base = ["--home", str(home.home), "exercise"]
    result = runner.invoke(
        app, [*base, "inject", "--scenario", "cwc-precursors-to-front", "--date", str(DAY),
              "--count", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    injected = read_injected(home.zone("exercises"))
    placed = {
        (row["declaration_id"], row["item_no"]): (i + 1, "red")
        for i, row in enumerate(injected.iter_rows(named=True))
    }
    write_parquet(
        _ranked("NLRTM", 100, placed),
        home.zone("lists") / f"date={DAY}" / "ranked_list.parquet",
    )
    report = runner.invoke(app, [*base, "report"])
    assert report.exit_code == 0, report.output
    assert "cwc-precursors-to-front" in report.output
    written = pl.read_csv(home.zone("reports") / "exercises" / "exercise_report.csv")
    row = written.row(0, named=True)
    assert (row["injected"], row["caught_1pct"], row["caught_5pct"], row["red_lane"]) == (
        4,
        1,
        4,
        4,
    )


def test_cli_report_without_exercises_says_what_to_do(tmp_path: Path) -> None:
    from pipelines.cli import app

    result = CliRunner().invoke(app, ["--home", str(tmp_path), "exercise", "report"])
    assert result.exit_code == 2
    assert "exercise inject" in result.output


def test_cli_inject_rejects_an_unknown_scenario(home: Settings) -> None:
    from pipelines.cli import app

    result = CliRunner().invoke(
        app,
        ["--home", str(home.home), "exercise", "inject", "--scenario", "nope", "--date", str(DAY)],
    )
    assert result.exit_code == 2
    assert "shipped scenarios" in result.output
