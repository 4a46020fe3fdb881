"""The synthetic world: determinism, contract validity, scenario rates, noise and the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rapidfuzz import fuzz
from typer.testing import CliRunner

from contracts import reference
from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.reading import LINE, cast_to_contract, read_raw
from pipelines.settings import Settings, load_settings
from simulator.day import generate_day
from simulator.names import name_variant
from simulator.rows import check_remainders, container_numbers
from simulator.stage import simulate_world
from simulator.threats import load_scenario, load_scenarios, shipped_scenario_paths
from simulator.traders import SHIPPER
from simulator.world import World, WorldParameters, build_world

START = date(2026, 1, 5)
# ISO 6346 letter values (multiples of 11 are skipped), written out independently of the code.
_LETTERS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [
    10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35,
    36, 37, 38], strict=True))  # fmt: skip
SMALL = WorldParameters(shippers=300, consignees=200, declarants=12)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(7, START, 30, params=SMALL.model_copy(update={"threat_rate": 0.02}))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Three small days with a high threat rate, written to a fresh home."""
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("home"))
    simulate_world(settings, START, 3, 1500, threat_rate=0.01, seed=11, params=SMALL)
    return settings


def _files(home: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.parts[-3:-1] != ("reports", "simulation")
    }


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    homes = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for home, seed in zip(homes, (5, 5, 6), strict=True):
        settings = load_settings(environ={}, home=home)
        simulate_world(settings, START, 2, 400, threat_rate=0.01, seed=seed, params=SMALL)
    first, second, other = (_files(h) for h in homes)
    assert len(first) >= 7  # 2 declaration files, 2 outcome files, truth, invalid rows, world
    assert first == second
    changed = [name for name in first if first[name] != other.get(name)]
    assert "landing/declarations/declarations_2026-01-05.csv" in changed


def test_landing_files_have_exactly_the_contract_columns(simulated: Settings) -> None:
    for path in sorted((simulated.zone("landing") / "declarations").glob("*.csv")):
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == DECLARATIONS.names
    outcomes = sorted((simulated.zone("landing") / "outcomes").glob("*.csv"))
    assert [p.name for p in outcomes] == [
        f"outcomes_{START + timedelta(days=i)}.csv" for i in range(3)
    ]


def _breaches(typed: pl.DataFrame, day: date) -> pl.Series:
    """Rows that break a rule of the declarations contract (checked from its column definitions).

    The project's Great Expectations suites check the same rules; they cost a minute to import
    here, so this test reads the rules straight from the contract.
    """
    refs = {
        "locode": reference.locodes(),
        "country": reference.country_codes(),
        "hs6": reference.hs6_codes(),
        "currency": reference.convertible_currencies(),
    }
    broken = pl.lit(False)
    for column in DECLARATIONS.columns:
        value = pl.col(column.name)
        if column.required:
            broken = broken | value.is_null()
        if column.kind == "list":
            elements = value.list
            if column.pattern:
                broken = broken | elements.eval(
                    pl.element().str.contains(column.pattern).not_()
                ).list.any().fill_null(False)
            if column.reference:
                known = list(refs[column.reference])
                broken = broken | elements.eval(
                    pl.element().is_in(known).not_()
                ).list.any().fill_null(False)
            continue
        if column.pattern:
            broken = broken | value.str.contains(column.pattern).not_().fill_null(False)
        if column.allowed:
            broken = broken | value.is_in(column.allowed).not_().fill_null(False)
        if column.minimum is not None:
            low = value <= column.minimum if column.minimum_exclusive else value < column.minimum
            broken = broken | low.fill_null(False)
        if column.min_length is not None:
            broken = broken | (value.str.len_chars() < column.min_length).fill_null(False)
        if column.reference == "hs6":
            broken = broken | value.str.slice(0, 6).is_in(list(refs["hs6"])).not_().fill_null(False)
        elif column.reference:
            broken = broken | value.is_in(list(refs[column.reference])).not_().fill_null(False)
    limit = datetime.combine(day + timedelta(days=2), datetime.min.time(), UTC)
    broken = broken | (pl.col("filed_at") > limit).fill_null(False)
    boxes = typed["container_ids"].to_list()
    bad_box = [any(not _valid_container(b) for b in row or []) for row in boxes]
    return typed.select(broken.alias("broken")).to_series() | pl.Series(bad_box)


def _valid_container(number: str) -> bool:
    values = [_LETTERS[c] for c in number[:4]] + [int(c) for c in number[4:10]]
    return sum(v * 2**i for i, v in enumerate(values)) % 11 % 10 == int(number[10])


def test_only_the_planted_rows_break_the_contract(simulated: Settings) -> None:
    """Every rule of the contract holds except on the rows the simulator broke on purpose."""
    invalid = pl.read_parquet(simulated.zone("truth") / "invalid_rows.parquet")
    assert invalid.height > 0
    assert invalid["broken_rule"].n_unique() >= 3
    for offset in range(3):
        day = START + timedelta(days=offset)
        raw = read_raw(simulated.zone("landing") / "declarations" / f"declarations_{day}.csv")
        typed, failures = cast_to_contract(raw, DECLARATIONS)
        not_cast = set(failures[LINE].to_list())
        lines = typed.with_columns(_breaches(typed, day).alias("broken"))
        lines = lines.with_columns(pl.col("broken") | pl.col(LINE).is_in(list(not_cast)))
        rejected_keys = (
            raw.join(lines.filter(pl.col("broken")).select(LINE), on=LINE)
            .select("declaration_id", pl.col("item_no").cast(pl.Int64, strict=False))
            .sort("declaration_id", "item_no")
        )
        planted = (
            invalid.filter(pl.col("filed_date") == day)
            .select("declaration_id", "item_no")
            .sort("declaration_id", "item_no")
        )
        assert rejected_keys.rows() == planted.rows()


def test_threats_are_never_invalid_rows(simulated: Settings) -> None:
    truth = pl.read_parquet(simulated.zone("truth") / "ground_truth.parquet")
    invalid = pl.read_parquet(simulated.zone("truth") / "invalid_rows.parquet")
    assert truth.height > 0
    assert truth.join(invalid, on=["declaration_id", "item_no"]).is_empty()
    assert set(truth["threat_category"].unique()) <= {"cbrn", "salw"}


def test_outcomes_follow_the_contract_and_find_only_threats(simulated: Settings) -> None:
    truth = pl.read_parquet(simulated.zone("truth") / "ground_truth.parquet")
    folder = simulated.zone("landing") / "outcomes"
    outcomes = []
    for path in sorted(folder.glob("*.csv")):
        typed, failures = cast_to_contract(read_raw(path), OUTCOMES)
        assert failures.is_empty()
        outcomes.append(typed.select(OUTCOMES.names))
    every = pl.concat(outcomes)
    assert every.height > 0
    assert set(every["selection_reason"].unique()) <= {"rule", "random"}
    findings = every.filter(pl.col("result") == "finding")
    assert findings.join(truth, on=["declaration_id", "item_no"]).height == findings.height
    assert findings["finding_category"].is_not_null().all()
    assert every.filter(pl.col("result") == "no_finding")["finding_category"].is_null().all()


def test_only_inspected_declarations_get_outcomes_and_after_filing(simulated: Settings) -> None:
    landing = simulated.zone("landing")
    day = START
    raw = read_raw(landing / "declarations" / f"declarations_{day}.csv")
    declarations, _ = cast_to_contract(raw, DECLARATIONS)
    outcomes, _ = cast_to_contract(read_raw(landing / "outcomes" / f"outcomes_{day}.csv"), OUTCOMES)
    inspected = outcomes["declaration_id"].n_unique()
    assert 0 < inspected < declarations["declaration_id"].n_unique() * 0.1
    first_filed = declarations.group_by("declaration_id").agg(pl.col("filed_at").min())
    joined = outcomes.join(first_filed, on="declaration_id")
    assert joined.height == outcomes.height
    assert (joined["inspected_at"] >= joined["filed_at"]).all()


def test_amendments_resend_a_key_later_sometimes_on_the_next_day(simulated: Settings) -> None:
    folder = simulated.zone("landing") / "declarations"
    frames = [
        cast_to_contract(read_raw(folder / f"declarations_{START + timedelta(days=i)}.csv"),
                         DECLARATIONS)[0]
        for i in range(3)
    ]  # fmt: skip
    every = pl.concat(frames)
    repeated = every.group_by("declaration_id", "item_no").agg(
        pl.col("filed_at").n_unique().alias("filings"), pl.col("filed_at").min().alias("first")
    )
    assert repeated.filter(pl.col("filings") > 1).height > 0
    spilled = frames[1].join(frames[0].select("declaration_id").unique(), on="declaration_id")
    assert spilled.height > 0


def test_each_scenario_appears_at_its_configured_rate(world: World) -> None:
    n = 60_000
    frame, truth = generate_day(world, START, n, np.random.default_rng(3))
    total_weight = sum(s.frequency for s in world.scenarios)
    counts = dict(truth.group_by("scenario").len().iter_rows())
    assert len(world.scenarios) >= 6
    for scenario in world.scenarios:
        p = world.params.threat_rate * scenario.frequency / total_weight
        expected, sigma = n * p, (n * p * (1 - p)) ** 0.5
        assert abs(counts.get(scenario.name, 0) - expected) < 4 * sigma, scenario.name
    assert abs(frame.height - n) / n < 0.03  # amendments add about 1 %


def test_default_threat_rate_is_about_one_in_five_thousand() -> None:
    assert WorldParameters().threat_rate == pytest.approx(1 / 5000)


def test_threat_rows_hide_among_normal_ones(world: World) -> None:
    """No label column; threats use the same id format; some use established, registered traders."""
    frame, truth = generate_day(world, START, 20_000, np.random.default_rng(4))
    assert set(frame.columns) == {*DECLARATIONS.names, "_invalid"}
    first_filings = frame.unique(["declaration_id", "item_no"], keep="first", maintain_order=True)
    threats = first_filings.join(truth, on=["declaration_id", "item_no"])
    assert threats.height == truth.height
    id_shape = r"^[A-Z]{2}\d{14}$"
    assert frame["declaration_id"].str.contains(id_shape).all()
    registered = set(world.traders.trader_id[world.traders.role == SHIPPER])
    assert threats["shipper_id"].is_in(list(registered)).sum() > 0
    assert (threats["item_no"] > 1).sum() > 0  # not always the first item


def test_container_numbers_carry_valid_check_digits() -> None:
    numbers = container_numbers(500, np.random.default_rng(1))
    assert all(_valid_container(str(n)) for n in numbers)
    assert check_remainders(np.array([0]), np.array([0])).tolist() == [0]


def test_watch_list_names_become_close_variants() -> None:
    rng = np.random.default_rng(2)
    original = "NAMCHONGANG TRADING CORPORATION"
    variants = {name_variant(original, rng) for _ in range(30)}
    assert original not in variants and original.title() not in variants
    assert len(variants) > 10
    assert all(fuzz.WRatio(v.upper(), original) >= 70 for v in variants)


def test_every_shipped_scenario_loads_and_lists_real_codes() -> None:
    from contracts.reference import hs6_codes

    paths = shipped_scenario_paths()
    assert len(paths) >= 6
    for scenario in load_scenarios():
        assert set(scenario.hs_codes) <= hs6_codes(), scenario.name
    watch = next(s for s in load_scenarios() if s.watchlist)
    assert {e.reference_number for e in watch.watchlist} >= {"KPe.004", "KPe.010"}


def test_a_broken_scenario_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ncategory: rad\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml.*category"):
        load_scenario(path)


def test_cli_simulates_and_writes_the_report(tmp_path: Path) -> None:
    from pipelines.cli import app

    runner = CliRunner()
    home = tmp_path / "home"
    result = runner.invoke(
        app,
        ["--home", str(home), "simulate", "--days", "2", "--per-day", "300",
         "--threat-rate", "0.01", "--seed", "3", "--report"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "threat items" in result.output
    folder = home / "reports" / "simulation"
    page = (folder / "index.html").read_text(encoding="utf-8")
    for plot in ("value_per_kg", "trader_activity", "routes_and_modes", "threats"):
        assert (folder / f"{plot}.png").stat().st_size > 1000
        assert f"{plot}.png" in page
    again = runner.invoke(app, ["--home", str(home), "simulate", "report"])
    assert again.exit_code == 0, again.output


def test_cli_rejects_a_bad_start_date(tmp_path: Path) -> None:
    from pipelines.cli import app

    result = CliRunner().invoke(app, ["--home", str(tmp_path), "simulate", "--start", "1/2/26"])
    assert result.exit_code != 0
    assert not (tmp_path / "landing").exists()


@pytest.mark.slow
def test_reruns_in_fresh_processes_are_byte_identical(tmp_path: Path) -> None:
    """Hash randomisation and thread scheduling differ between processes; the files must not."""
    import os
    import subprocess
    import sys

    homes = []
    for hash_seed in ("1", "2"):
        home = tmp_path / f"home{hash_seed}"
        code = "from pipelines.cli import main; main()"
        args = ["--home", str(home), "simulate", "--days", "2", "--per-day", "300", "--seed", "4"]
        env = os.environ | {"PYTHONHASHSEED": hash_seed}
        subprocess.run(
            [sys.executable, "-c", code, *args], check=True, env=env, capture_output=True
        )
        homes.append(home)
    first, second = (_files(h) for h in homes)
    assert len(first) >= 7
    assert first == second
