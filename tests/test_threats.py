"""The threat-category registry: every place that names categories follows it."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from contracts import reference, threats
from contracts.outcomes import FINDING_CATEGORIES
from contracts.ranked_list import RANKED_LIST
from features import strategic
from features.history import COUNT_COLUMNS
from features.rules import RuleError, parse_rules
from models.registry import CATEGORIES
from models.scoring import SCORE_COLUMNS
from pipelines.publish import render_port_html
from pipelines.select import SCORES_SCHEMA
from simulator.threats import Scenario


def test_names_are_unique_and_data_safe() -> None:
    assert len(set(threats.NAMES)) == len(threats.NAMES) >= 1
    for name in threats.NAMES:
        assert name.isidentifier() and name == name.lower()


def test_each_category_marks_goods_on_the_shipped_strategic_list() -> None:
    listed = set(reference.strategic_hs()["threat"].to_list())
    for threat in threats.THREATS:
        assert threat.strategic_class in reference.THREATS
        assert threat.strategic_class in listed


def test_contracts_models_and_features_follow_the_registry() -> None:
    assert CATEGORIES == threats.NAMES
    assert (*threats.NAMES, "other") == FINDING_CATEGORIES
    assert [c for c in RANKED_LIST.names if c.endswith("_score")] == [
        "risk_score",
        *threats.SCORE_COLUMNS,
    ]
    assert SCORE_COLUMNS[: len(threats.THREATS)] == threats.SCORE_COLUMNS
    assert [c for c in SCORES_SCHEMA if c.endswith("_score")] == ["risk_score", *SCORE_COLUMNS[:-2]]
    assert COUNT_COLUMNS[3:] == tuple(f"n_findings_{n}" for n in threats.NAMES)
    hs_features = [f.name for f in strategic.FEATURES if f.name.startswith("hs_is_")]
    assert hs_features == [f"hs_is_{n}" for n in threats.NAMES]


def test_a_rule_naming_an_unknown_category_is_refused_with_the_known_ones() -> None:
    text = """
- id: TEST-001
  version: 1
  title: t
  description: d
  owner: o
  threat: drones
  weight: 0.5
  force: none
  valid_from: 2026-01-01
  conditions: {field: hs_code, op: startswith, value: "93"}
"""
    with pytest.raises(RuleError, match=r"field 'threat' must be cbrn or salw \(got 'drones'\)"):
        parse_rules(text, "test.yaml")


def test_a_scenario_category_must_be_a_registered_one() -> None:
    with pytest.raises(ValueError, match="Input should be 'cbrn' or 'salw'"):
        Scenario.model_validate({"category": "drones"})


def test_spoken_list_reads_as_a_sentence() -> None:
    assert threats.spoken_list(("cbrn",)) == "cbrn"
    assert threats.spoken_list(("a", "b")) == "a or b"
    assert threats.spoken_list(("a", "b", "c"), "and") == "a, b and c"


def test_by_name_names_the_known_categories_when_it_fails() -> None:
    assert threats.by_name("salw").label == "SALW"
    with pytest.raises(KeyError, match="known: cbrn, salw"):
        threats.by_name("drones")


def test_printable_list_has_one_score_column_per_category() -> None:
    row = {c: None for c in RANKED_LIST.names} | {
        "rank": 1,
        "declaration_id": "D1",
        "item_no": 1,
        "lane": "red",
        "selection_reason": "risk",
        "risk_score": 0.5,
        "reasons": "r",
        "rule_hits": [],
        "watchlist_hits": [],
        "model_version": "m",
        "run_id": "r1",
        "list_date": date(2026, 1, 1),
        "port_of_discharge": "NLRTM",
    }
    row |= {column: 0.25 for column in threats.SCORE_COLUMNS}
    html = render_port_html(
        pl.DataFrame([row], schema=RANKED_LIST.polars_schema), "NLRTM", date(2026, 1, 1)
    )
    header = "".join(f"<th>{t.label}</th>" for t in threats.THREATS)
    assert f"<th>Risk</th>{header}<th>Reasons</th>" in html
    assert html.count('<td class="num">0.250</td>') == len(threats.THREATS)
