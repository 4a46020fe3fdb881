"""The detection evaluation on tiny hand-made frames, the baseline features and world specs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from benchmarks.baseline import FEATURES, baseline_features, inspected_labels
from benchmarks.detection import WorldSpec
from simulator.evaluate import detection_table, markdown_report, summarise

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
    assert text.index("## held-out") < text.index("## tuning")
    assert "| gulf-hub/listed-parties/6 | failed: ValueError: no findings |" in text
