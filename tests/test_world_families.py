"""Presets and disguise families produce what they claim; the default world is unchanged."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rapidfuzz import fuzz
from typer.testing import CliRunner

from pipelines.settings import load_settings
from simulator.day import generate_day
from simulator.inspections import legacy_rule_hits
from simulator.names import filer_spelling
from simulator.presets import DISGUISES, PRESETS, families_in, preset
from simulator.stage import simulate_world
from simulator.threats import (
    DEFAULT_SCENARIOS,
    Scenario,
    ThreatContext,
    draft_threats,
    load_scenarios,
    resolve_scenario,
    shipped_scenario_paths,
)
from simulator.world import World, WorldParameters, build_world

DAY = date(2026, 3, 2)
SMALL = {"shippers": 300, "consignees": 200, "declarants": 12}


def _world(preset_name: str = "eu-default", **update: object) -> World:
    params = preset(preset_name).world_parameters().model_copy(update={**SMALL, **update})
    return build_world(3, date(2026, 1, 1), 120, params=params)


@pytest.fixture(scope="module")
def world() -> World:
    return _world()


def test_the_default_world_still_draws_the_first_six_scenarios() -> None:
    assert [s.name for s in load_scenarios()] == list(DEFAULT_SCENARIOS)
    assert DISGUISES["tell-tale"].scenarios == DEFAULT_SCENARIOS
    assert preset("eu-default").world_parameters() == WorldParameters()


def test_every_shipped_scenario_is_in_exactly_one_family_and_held_out_never_tunes() -> None:
    shipped = {p.stem for p in shipped_scenario_paths()}
    owners: dict[str, list[str]] = {}
    for family in DISGUISES.values():
        for name in family.scenarios:
            owners.setdefault(name, []).append(family.name)
    assert set(owners) == shipped
    assert all(len(families) == 1 for families in owners.values())
    tuning = {s for f in families_in("tuning") for s in DISGUISES[f].scenarios}
    held_out = {s for f in families_in("held_out") for s in DISGUISES[f].scenarios}
    assert len(families_in("held_out")) >= 3
    assert tuning.isdisjoint(held_out)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_discharges_at_its_own_ports_with_its_own_importers(name: str) -> None:
    world = _world(name)
    frame, _ = generate_day(world, DAY, 600, np.random.default_rng(1))
    params = world.params
    ports = set(params.discharge_sea) | set(params.discharge_air)
    assert set(frame["port_of_discharge"].drop_nulls().unique()) <= ports
    homes = {p[:2] for p in ports}
    valid = frame.filter(pl.col("_invalid").is_null())
    assert set(valid["consignee_country"].unique()) <= homes
    shippers = valid["shipper_country"].value_counts().sort("count", descending=True)
    top = max(params.shipper_countries, key=lambda c: params.shipper_countries[c])
    assert shippers["shipper_country"][0] == top


def test_east_africa_is_kenya_and_tanzania_and_its_old_rules_ignore_generic_words() -> None:
    world = _world("east-africa")
    assert {"KEMBA", "TZDAR"} <= set(world.params.discharge_sea)
    rows = pl.DataFrame(
        {
            "declaration_id": ["A", "B"],
            "port_of_discharge": ["KEMBA", "KEMBA"],
            "filed_at": [None, None],
            "hs_code": ["847990", "284410"],
            "country_of_origin": ["CN", "CN"],
            "country_of_dispatch": ["CN", "CN"],
            "goods_description": ["SAMPLES, no commercial value", "uranium ore"],
            "declared_value": [1000.0, 1000.0],
            "currency": ["USD", "USD"],
            "gross_mass_kg": [10.0, 10.0],
            "packages": [1, 1],
            "mode": ["sea", "sea"],
            "un_number": [None, "2912"],
        }
    )
    hits = dict(legacy_rule_hits(rows, world).select("declaration_id", "hits").iter_rows())
    assert hits == {"A": 0, "B": 6}  # strategic code 3 + UN class 7 3
    default_hits = legacy_rule_hits(rows, _world())
    assert dict(default_hits.select("declaration_id", "hits").iter_rows())["A"] == 2


def _threats(world: World, name: str, count: int = 40) -> tuple[pl.DataFrame, pl.DataFrame]:
    scenario = resolve_scenario(name)
    context = ThreatContext.from_world(world, DAY)
    declarations, items = draft_threats(world, scenario, count, np.random.default_rng(5), context)
    decl = pl.DataFrame(
        {
            "declaration": np.arange(declarations.size),
            "shipper_id": declarations.shipper_id.tolist(),
            "shipper_name": declarations.shipper_name.tolist(),
            "consignee_id": declarations.consignee_id.tolist(),
            "port": declarations.port_of_discharge.tolist(),
        }
    )
    item = pl.DataFrame(
        {
            "declaration": items.declaration,
            "hs_code": items.hs_code.tolist(),
            "description": items.description.tolist(),
            "packages": items.packages,
            "scenario": items.scenario.tolist(),
        }
    )
    return decl, item.filter(pl.col("scenario").is_not_null())


@pytest.mark.parametrize(
    "name", ["salw-ordinary-wording", "cbrn-misdeclared-common-codes", "listed-party-as-filed"]
)
def test_ordinary_wording_is_what_honest_traders_write_for_that_code(
    world: World, name: str
) -> None:
    _, items = _threats(world, name)
    catalogue = world.catalogue
    honest = {code: set(catalogue.descriptions[i].tolist()) for i, code in enumerate(catalogue.hs6)}
    for code, text in items.select("hs_code", "description").iter_rows():
        assert text in honest[code], (code, text)
    listed = set(resolve_scenario("salw-parts-as-machinery").descriptions)
    assert not set(items["description"]) & listed


def test_a_split_consignment_is_several_declarations_of_the_same_parties(world: World) -> None:
    declarations, items = _threats(world, "ammunition-split-consignments", count=45)
    low, high = resolve_scenario("ammunition-split-consignments").split or (0, 0)
    consignments = round(45 / ((low + high) / 2))  # about `count` items in all
    assert consignments * low <= items.height <= consignments * high
    assert items["declaration"].n_unique() == items.height  # one threat item per declaration
    threat = declarations.join(items.select("declaration"), on="declaration")
    pairs = threat.group_by("shipper_id", "consignee_id", "port").len()
    assert pairs.height <= consignments
    assert pairs["len"].min() >= low


def test_clean_traders_trade_the_threat_inside_their_own_chapters(world: World) -> None:
    declarations, items = _threats(world, "dual-use-in-line-of-business")
    traders = world.traders
    lines = {
        str(t): set(row.tolist()) for t, row in zip(traders.trader_id, traders.lines, strict=True)
    }
    joined = declarations.join(items, on="declaration")
    for consignee, code in joined.select("consignee_id", "hs_code").iter_rows():
        assert int(code[:2]) in lines[consignee], (consignee, code)


def test_filer_spelling_keeps_the_name_recognisable_without_transliteration() -> None:
    rng = np.random.default_rng(4)
    original = "KOREA RYONHA MACHINERY JOINT VENTURE CORPORATION"
    typed = [filer_spelling(original, rng) for _ in range(40)]
    assert len(set(typed)) > 5
    assert all("COREA" not in t.upper() for t in typed)
    assert all(fuzz.partial_ratio(t.upper(), "KOREA RYONHA") >= 80 for t in typed)


def test_the_same_preset_family_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    def run(home: Path, seed: int) -> dict[str, bytes]:
        settings = load_settings(environ={}, home=home)
        params = preset("gulf-hub").world_parameters().model_copy(update=SMALL)
        simulate_world(
            settings, DAY, 2, 300, threat_rate=0.02, seed=seed, params=params,
            scenarios=DISGUISES["split-consignments"].scenarios,
        )  # fmt: skip
        return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*.*"))}

    first, second, other = run(tmp_path / "a", 9), run(tmp_path / "b", 9), run(tmp_path / "c", 8)
    assert first == second
    assert first != other
    truth = pl.read_parquet(tmp_path / "a" / "truth" / "ground_truth.parquet")
    assert set(truth["scenario"]) <= set(DISGUISES["split-consignments"].scenarios)
    assert truth.height > 0


def test_cli_simulates_a_preset_with_a_disguise_family(tmp_path: Path) -> None:
    from pipelines.cli import app

    home = tmp_path / "home"
    result = CliRunner().invoke(
        app,
        ["--home", str(home), "simulate", "--preset", "east-africa", "--disguises",
         "hub-laundering", "--days", "1", "--per-day", "300", "--threat-rate", "0.03"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    csv = next((home / "landing" / "declarations").glob("*.csv")).read_text(encoding="utf-8")
    assert "KEMBA" in csv or "TZDAR" in csv
    truth = pl.read_parquet(home / "truth" / "ground_truth.parquet")
    assert set(truth["scenario"]) <= {"salw-hub-laundering", "dual-use-undervalued"}
    bad = CliRunner().invoke(app, ["--home", str(home), "simulate", "--preset", "mars"])
    assert bad.exit_code == 2
    assert "unknown preset" in bad.output


def test_several_lines_put_two_or_three_threat_items_in_one_declaration(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    params = preset("eu-default").world_parameters().model_copy(update=SMALL)
    simulate_world(
        settings, DAY, 2, 300, threat_rate=0.03, seed=5, params=params,
        scenarios=DISGUISES["several-lines"].scenarios,
    )  # fmt: skip
    truth = pl.read_parquet(tmp_path / "truth" / "ground_truth.parquet")
    lines = truth.group_by("declaration_id").len()["len"]
    assert set(truth["scenario"]) <= set(DISGUISES["several-lines"].scenarios)
    assert lines.min() >= 2 and lines.max() <= 3 and lines.len() > 0
    # Each threat line is its own item of the declaration.
    assert truth.select("declaration_id", "item_no").is_duplicated().sum() == 0
    # One examination finds every line, and each is recorded as a finding row of its own.
    outcomes = pl.concat(
        [pl.read_csv(p) for p in sorted((tmp_path / "landing" / "outcomes").glob("*.csv"))]
    )
    found = outcomes.filter(pl.col("result") == "finding")
    assert found.height > 0
    per_declaration = found.group_by("declaration_id").agg(pl.col("item_no").sort())
    expected = truth.group_by("declaration_id").agg(pl.col("item_no").sort())
    checked = per_declaration.join(expected, on="declaration_id", suffix="_truth")
    assert checked.height == per_declaration.height
    assert (checked["item_no"] == checked["item_no_truth"]).all()


def test_threat_lines_must_be_one_or_more_and_never_with_a_split() -> None:
    base = load_scenarios(("salw-kit-in-several-lines",))[0].model_dump()
    with pytest.raises(ValueError, match="threat_lines"):
        Scenario.model_validate({**base, "threat_lines": (0, 2)})
    with pytest.raises(ValueError, match="one line per declaration"):
        Scenario.model_validate({**base, "split": (2, 3)})
