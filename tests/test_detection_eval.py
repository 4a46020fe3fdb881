"""The detection evaluation on tiny hand-made frames, the baseline features and world specs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from benchmarks.baseline import FEATURES, baseline_features, inspected_labels
from benchmarks.detection import (
    FRESH_HELD_OUT_WORLDS,
    SECOND_FRESH_WORLDS,
    STANDARD_WORLDS,
    THIRD_FRESH_WORLDS,
    Plan,
    WorldSpec,
)
from models.evaluation import expected_found
from pipelines import layout
from pipelines.io import write_parquet
from pipelines.settings import load_settings
from simulator.evaluate import (
    detection_table,
    expected_consignments_found,
    markdown_report,
    summarise,
    with_consignments,
)

NIGHT = date(2026, 5, 1)


def _port(port: str, n: int, threats: dict[int, tuple[str, str]]) -> pl.DataFrame:
    """n items of one port; `threats` maps a list position (0 = rank 1) to (category, scenario).

    risk is the reverse of rank except that it puts the last item first; legacy is flat.
    """
    rank = list(range(1, n + 1))
    return pl.DataFrame(
        {
            "night": [NIGHT] * n,
            "port": [port] * n,
            "declaration_id": [f"{port}{i}" for i in range(n)],
            "item_no": [1] * n,
            "rank": [-float(r) for r in rank],
            "risk": [float(n - i) if i < n - 1 else float(n + 1) for i in range(n)],
            "legacy": [0.0] * n,
            "threat_category": [threats.get(i, (None, None))[0] for i in range(n)],
            "scenario": [threats.get(i, (None, None))[1] for i in range(n)],
        }
    )


@pytest.fixture
def frame() -> pl.DataFrame:
    # Port A: 100 items, threats at list positions 0 (cbrn) and 3 (salw) and 99 (salw).
    # Port B: 50 items, one cbrn threat at position 1.
    a = _port("A", 100, {0: ("cbrn", "x"), 3: ("salw", "y"), 99: ("salw", "y")})
    b = _port("B", 50, {1: ("cbrn", "x")})
    return pl.concat([a, b])


def test_each_port_inspects_its_own_top_share(frame: pl.DataFrame) -> None:
    table = detection_table(frame, methods=("rank", "risk", "legacy"), rates=(0.01, 0.05))
    one = summarise(table.filter(pl.col("kind") == "all"), ["port"])

    def cell(port: str, method: str, rate: float) -> dict[str, float]:
        row = one.filter(
            (pl.col("port") == port) & (pl.col("method") == method) & (pl.col("rate") == rate)
        )
        return row.select("inspected", "positives", "found", "recall", "precision").row(
            0, named=True
        )

    # A at 1 %: one inspection, rank 1 is a threat.
    assert cell("A", "rank", 0.01) == {
        "inspected": 1, "positives": 3, "found": 1.0, "recall": 1 / 3, "precision": 1.0,
    }  # fmt: skip
    # By risk the last item (a threat) comes first.
    assert cell("A", "risk", 0.01)["found"] == 1.0
    # At 5 %: five inspections in A find positions 0 and 3 by rank; risk takes 99, 0, 1, 2, 3.
    assert cell("A", "rank", 0.05)["found"] == 2.0
    assert cell("A", "risk", 0.05)["found"] == 3.0
    # B has 50 items: 1 % rounds up to one inspection, which misses the threat at position 1.
    assert cell("B", "rank", 0.01) == {
        "inspected": 1, "positives": 1, "found": 0.0, "recall": 0.0, "precision": 0.0,
    }  # fmt: skip
    # A flat score finds the expected share at random: 1 of 100 items, 3 threats.
    assert cell("A", "legacy", 0.01)["found"] == pytest.approx(0.03)


def test_pooling_sums_ports_and_splits_kinds(frame: pl.DataFrame) -> None:
    table = detection_table(frame, methods=("rank",), rates=(0.05,))
    pooled = summarise(table, [])
    kinds = {k: (p, f) for k, p, f in pooled.select("kind", "positives", "found").iter_rows()}
    # rank at 5 %: A takes 5 (finds cbrn@0, salw@3), B takes 3 (finds cbrn@1).
    assert kinds["all"] == (4, 3.0)
    assert kinds["cbrn"] == (2, 2.0)
    assert kinds["salw"] == (2, 1.0)
    assert kinds["scenario:y"] == (2, 1.0)
    precision = pooled.filter(pl.col("kind") == "all")["precision"][0]
    assert precision == pytest.approx(3 / 8)
    text = markdown_report(table, "t")
    assert "| all | rank | 4 | 0.75 (0.375) |" in text


@pytest.fixture
def split_frame() -> pl.DataFrame:
    # One port of 100 items: a consignment split over list positions 0, 1, 2 and a lone threat
    # at 50. The risk score puts the lone threat first, then the three parts.
    frame = _port(
        "A", 100, {0: ("salw", "s"), 1: ("salw", "s"), 2: ("salw", "s"), 50: ("cbrn", "x")}
    )
    consignment = [None] * 100
    consignment[0:3] = ["split:A0/1"] * 3
    consignment[50] = "A50/1"
    risk = frame["risk"].to_list()
    risk[50] = 1000.0
    return frame.with_columns(pl.Series("consignment", consignment), pl.Series("risk", risk))


def test_a_split_consignment_counts_once_and_is_found_by_any_part(
    split_frame: pl.DataFrame,
) -> None:
    table = detection_table(split_frame, methods=("rank", "risk"), rates=(0.01, 0.05))
    pooled = summarise(table.filter(pl.col("kind") == "all"), [])

    def cell(method: str, rate: float) -> dict[str, float]:
        row = pooled.filter((pl.col("method") == method) & (pl.col("rate") == rate))
        return row.select(
            "positives", "recall", "ceiling_recall", "consignments", "consignment_recall",
            "consignment_ceiling_recall",
        ).row(0, named=True)  # fmt: skip

    # 1 %: one inspection. By rank it takes a part (1 of 4 items, 1 of 2 consignments); no order
    # could find more than 1 of the 4 items, but one could find 1 of the 2 consignments.
    assert cell("rank", 0.01) == {
        "positives": 4, "recall": 0.25, "ceiling_recall": 0.25,
        "consignments": 2, "consignment_recall": 0.5, "consignment_ceiling_recall": 0.5,
    }  # fmt: skip
    # 5 %: five inspections. By rank the three parts (3 of 4 items) but still one consignment;
    # by risk the lone threat and the three parts: every item and both consignments.
    assert cell("rank", 0.05)["recall"] == 0.75
    assert cell("rank", 0.05)["consignment_recall"] == 0.5
    assert cell("risk", 0.05)["recall"] == 1.0
    assert cell("risk", 0.05)["consignment_recall"] == 1.0
    assert cell("risk", 0.05)["ceiling_recall"] == cell("risk", 0.05)["consignment_ceiling_recall"]
    assert cell("risk", 0.05)["ceiling_recall"] == 1.0
    # Per kind: the split salw consignment is 3 items but one consignment.
    salw = summarise(table.filter(pl.col("kind") == "salw"), []).filter(pl.col("rate") == 0.01)
    assert set(salw.select("positives", "consignments").iter_rows()) == {(3, 1)}
    text = markdown_report(table, "t")
    assert "| all | rank | 4 | 0.25 (1.000) | 0.75 (0.600) |" in text
    assert "| all | ceiling | 4 | 0.25 (1.000) | 1.00 (0.800) |" in text
    consigned = text[text.index("## Per threat kind, per consignment") :]
    assert "| all | rank | 2 | 0.50 | 0.50 |" in consigned
    assert "| all | ceiling | 2 | 0.50 | 1.00 |" in consigned


def test_without_consignment_ids_every_threat_is_its_own(split_frame: pl.DataFrame) -> None:
    table = detection_table(split_frame.drop("consignment"), methods=("rank",), rates=(0.05,))
    row = summarise(table.filter(pl.col("kind") == "all"), []).row(0, named=True)
    assert row["consignments"] == row["positives"] == 4
    assert row["consignment_recall"] == row["recall"] == 0.75


def test_consignments_found_under_ties_in_expectation() -> None:
    flat = np.zeros(4)
    # One inspection among four tied rows: a two-part consignment is hit half the time.
    assert expected_consignments_found(flat, np.array([0, 0, -1, -1]), 1) == pytest.approx(0.5)
    # Two inspections: missed only when both slots go to the other two rows, 1 in 6.
    assert expected_consignments_found(flat, np.array([0, 0, -1, -1]), 2) == pytest.approx(5 / 6)
    # Consignment 1 has a part above the tie: always found. Consignment 0 has one part among the
    # three rows tied for the one slot left (a third) and one below the edge (never).
    scores = np.array([3.0, 1.0, 1.0, 1.0, 0.0])
    found = expected_consignments_found(scores, np.array([1, 0, -1, -1, 0]), 2)
    assert found == pytest.approx(1 + 1 / 3)
    # One-part consignments: the same as counting items.
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, 50).astype(float)
    labels = rng.random(50) < 0.3
    numbers = np.where(labels, np.cumsum(labels) - 1, -1)
    for k in (1, 5, 20):
        assert expected_consignments_found(scores, numbers, k) == pytest.approx(
            expected_found(scores, labels, k)
        )


def _staged_row(declaration: str, hs_code: str, shipper: str) -> dict[str, object]:
    return {
        "declaration_id": declaration,
        "item_no": 1,
        "shipper_id": shipper,
        "consignee_id": "C1",
        "declarant_id": None,
        "mode": "courier",
        "port_of_loading": "TRIST",
        "transshipment_ports": [],
        "country_of_origin": "TR",
        "goods_description": "steel screws",
        "hs_code": hs_code,
    }


def test_split_parts_are_told_by_the_staged_fields_they_share(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    truth = settings.zone("truth")
    truth.mkdir(parents=True)
    scenarios = [{"name": "ammo-split", "split": [3, 6]}, {"name": "plain", "split": None}]
    (truth / "world.json").write_text(json.dumps({"scenarios": scenarios}))
    staged = pl.DataFrame(
        [
            # Three parts: national digits differ, everything else agrees.
            _staged_row("D1", "73181512", "S1"),
            _staged_row("D2", "731815", "S1"),
            _staged_row("D3", "7318159999", "S1"),
            # Same goods and route from another shipper: another consignment.
            _staged_row("D4", "731815", "S2"),
            # A threat of an unsplit scenario with the very same fields stays its own.
            _staged_row("D5", "731815", "S1"),
            _staged_row("D6", "731815", "S1"),
        ]
    )
    write_parquet(staged, layout.staged_declarations_file(settings, NIGHT))
    # D8 declares two threat lines: one declaration, examined once, one consignment.
    scenario = ["ammo-split"] * 4 + ["plain"] * 2 + [None] + ["plain"] * 2
    frame = pl.DataFrame(
        {
            "night": [NIGHT] * 9,
            "port": ["AEDXB"] * 9,
            "declaration_id": ["D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D8"],
            "item_no": [1] * 8 + [2],
            "scenario": scenario,
        }
    )
    ids = {
        f"{d}/{i}": c
        for d, i, c in with_consignments(settings, NIGHT, frame)
        .select("declaration_id", "item_no", "consignment")
        .iter_rows()
    }
    assert ids == {
        "D1/1": "split:D1", "D2/1": "split:D1", "D3/1": "split:D1", "D4/1": "split:D4",
        "D5/1": "D5", "D6/1": "D6", "D7/1": None, "D8/1": "D8", "D8/2": "D8",
    }  # fmt: skip
    # Without the staged rows the parts cannot be told: a clear error, not a silent guess.
    layout.staged_declarations_file(settings, NIGHT).unlink()
    with pytest.raises(FileNotFoundError, match="staged declarations"):
        with_consignments(settings, NIGHT, frame)


def _items() -> pl.DataFrame:
    rows = []
    for day, shipper, declaration in (
        (1, "S1", "D1"), (2, "S1", "D2"), (2, "S1", "D3"), (3, "S1", "D4"), (3, "S2", "D5"),
    ):  # fmt: skip
        rows.append(
            {
                "declaration_id": declaration,
                "item_no": 1,
                "filed_at": datetime(2026, 1, day, 10, tzinfo=UTC),
                "currency": "USD",
                "declared_value": 100.0,
                "gross_mass_kg": 10.0,
                "packages": 2,
                "hs_code": "847990",
                "mode": "sea",
                "transshipment_ports": [],
                "country_of_origin": "CN",
                "shipper_country": "CN",
                "shipper_id": shipper,
                "consignee_id": "C1",
                "goods_description": "machine parts",
                "un_number": None,
                "port_of_discharge": "P",
            }
        )
    return pl.DataFrame(rows)


def test_baseline_history_features_count_only_earlier_days() -> None:
    items = _items()
    features = baseline_features(items, {"USD": 1.0})
    assert set(FEATURES) <= set(features.columns)
    before = dict(features.select("declaration_id", "shipper_before").iter_rows())
    # log10(1 + earlier declarations of the shipper): 0, 1, 1, 3, 0 (same day never counts).
    assert [round(10 ** before[d] - 1) for d in ("D1", "D2", "D3", "D4", "D5")] == [0, 1, 1, 3, 0]
    # Adding a later day changes nothing about the earlier rows.
    shorter = baseline_features(items.filter(pl.col("declaration_id") != "D5"), {"USD": 1.0})
    joined = shorter.join(features, on=["declaration_id", "item_no"], suffix="_all")
    for name in ("shipper_before", "wording_before", "usd_per_kg_vs_chapter"):
        assert joined[name].equals(joined[f"{name}_all"], null_equal=True)


def test_baseline_labels_only_inspected_items() -> None:
    outcomes = pl.DataFrame(
        {
            "declaration_id": ["D1", "D2", "D3"],
            "item_no": [1, None, None],
            "result": ["finding", "no_finding", "finding"],
        },
        schema={"declaration_id": pl.String, "item_no": pl.Int64, "result": pl.String},
    )
    labels = inspected_labels(outcomes, _items())
    assert dict(labels.select("declaration_id", "label").iter_rows()) == {
        "D1": 1, "D2": 0, "D3": 1,
    }  # fmt: skip


def test_a_world_spec_names_a_known_preset_family_and_seed() -> None:
    spec = WorldSpec.parse("east-africa/ordinary-wording/4")
    assert (spec.split, spec.folder) == ("held_out", "east-africa__ordinary-wording__4")
    with pytest.raises(ValueError, match="unknown preset"):
        WorldSpec.parse("mars/ordinary-wording/1")
    with pytest.raises(ValueError, match="preset/family/seed"):
        WorldSpec.parse("east-africa/ordinary-wording")


def test_the_harness_report_keeps_held_out_and_tuning_apart(frame: pl.DataFrame) -> None:
    from benchmarks.detection import Plan, report

    table = detection_table(frame, methods=("rank", "risk"), rates=(0.01, 0.05))
    held_out = table.filter(pl.col("port") == "A").with_columns(
        world=pl.lit("east-africa/ordinary-wording/4"), split=pl.lit("held_out")
    )
    tuning = table.filter(pl.col("port") == "B").with_columns(
        world=pl.lit("eu-default/tell-tale/1"), split=pl.lit("tuning")
    )
    text = report(
        pl.concat([held_out, tuning]),
        {"eu-default/tell-tale/1": {"build": 60.0, "load": 9.0}},
        Plan(nights=1),
        {"gulf-hub/listed-parties/6": "ValueError: no findings"},
    )
    # Port A alone is held out: 3 threats, rank finds 1 at 1 %; port B alone is tuning.
    assert "| held_out | rank | 3 | 0.33 (1.000) | 0.67 (0.400) |" in text
    assert "| tuning | rank | 1 | 0.00 (0.000) | 1.00 (0.333) |" in text
    # One inspection at 1 % in A: no order finds more than 1 of its 3 threats.
    assert "| held_out | ceiling | 3 | 0.33 (1.000) | 1.00 (0.600) |" in text
    assert text.index("## held-out") < text.index("## tuning")
    # Each pooled group and the per-world table also count per consignment, with the ceiling.
    assert text.count("| split | method | consignments |") == 2
    assert "| east-africa/ordinary-wording/4 | ceiling | 3 | 0.33 | 1.00 |" in text
    assert "| gulf-hub/listed-parties/6 | failed: ValueError: no findings |" in text


def test_a_recipe_names_threat_lines_only_where_a_scenario_has_several() -> None:
    # Homes built before `threat_lines` existed keep their recipe, so --reuse does not rebuild
    # them; a several-lines world's recipe records its lines.
    plan = Plan()
    one_line = plan.recipe(WorldSpec.parse("gulf-hub/split-consignments/3"))
    several = plan.recipe(WorldSpec.parse("gulf-hub/several-lines/15"))
    assert all("threat_lines" not in s for s in one_line["scenarios"])
    assert [s["threat_lines"] for s in several["scenarios"]] == [[2, 3], [2, 3]]


@pytest.mark.parametrize(
    "fresh_set", [FRESH_HELD_OUT_WORLDS, SECOND_FRESH_WORLDS, THIRD_FRESH_WORLDS]
)
def test_fresh_held_out_worlds_are_held_out_and_share_no_seed_with_earlier_sets(
    fresh_set: tuple[str, ...],
) -> None:
    fresh = [WorldSpec.parse(text) for text in fresh_set]
    earlier = [
        WorldSpec.parse(text)
        for named in (
            STANDARD_WORLDS,
            FRESH_HELD_OUT_WORLDS,
            SECOND_FRESH_WORLDS,
            THIRD_FRESH_WORLDS,
        )
        if named is not fresh_set
        for text in named
    ]
    assert {spec.split for spec in fresh} == {"held_out"}
    assert not {spec.seed for spec in fresh} & {spec.seed for spec in earlier}
    assert len({spec.seed for spec in fresh}) == len(fresh)


def test_port_target_tells_ports_the_budget_holds_back_from_ports_the_order_lost() -> None:
    from benchmarks.detection import port_target

    def port(split: str, name: str, found: float, positives: int, ceiling: int) -> dict[str, Any]:
        return {"split": split, "world": "w/f/1", "port": name, "method": "rank", "rate": 0.01,
                "found": found, "positives": positives, "ceiling": ceiling}  # fmt: skip

    rows = [
        port("held_out", "A", 9, 10, 10),  # reaches 0.90
        port("held_out", "B", 2, 4, 2),  # below, but no order could find more
        port("held_out", "C", 1, 4, 3),  # below its ceiling: the order lost two
        port("held_out", "D", 0, 0, 0),  # no planted threat: not counted
        port("tuning", "E", 1, 1, 1),
    ]
    # Other methods and budgets are not the list's order at 1 %.
    rows.append({**rows[2], "method": "risk", "found": 4.0})
    rows.append({**rows[2], "rate": 0.02, "found": 4.0})
    text = "\n".join(port_target(pl.DataFrame(rows)))
    assert "| held_out | 3 | 1 | 1 | 1 |" in text
    assert "| tuning | 1 | 1 | 0 | 0 |" in text
