"""Expert rules: every operator, combinators, validity windows, errors and the starter set."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.rules import (
    HITS_SCHEMA,
    CompiledRules,
    RuleError,
    check_rules,
    evaluate_rules,
    parse_rules,
    rules_valid_on,
)
from pipelines.rules import load_rules, load_starter_rules

DAY = date(2026, 3, 1)


def _frame() -> pl.DataFrame:
    """Four declaration items with the fields rules read (plus one feature column)."""
    return pl.DataFrame(
        {
            "declaration_id": ["D1", "D2", "D3", "D4"],
            "item_no": [1, 1, 2, 1],
            "hs_code": ["930190", "847990", "284440", "281213"],
            "goods_description": ["Hunting rifles", "Machine PARTS", "medical device", "reagent"],
            "country_of_origin": ["LY", "CN", "FR", "DE"],
            "country_of_dispatch": ["TR", "CN", "BE", "DE"],
            "transshipment_ports": [["AEJEA", "TRMER"], None, [], ["NLRTM"]],
            "gross_mass_kg": [10.0, 500.0, 3.0, None],
            "packages": [1, 5, 1, 2],
            "un_number": [None, None, "2915", "1810"],
            "consignee_age_days": [3, 900, 40, None],
            "consignee_n_items": [0, 5000, 12, 2],
        },
        schema_overrides={"transshipment_ports": pl.List(pl.String()), "gross_mass_kg": pl.Float64},
    )


def _rule(conditions: str, **fields: str) -> str:
    header = {
        "id": "TEST-001",
        "version": "1",
        "title": "test rule",
        "description": "a rule for a test",
        "threat": "salw",
        "weight": "0.25",
        "owner": "tests",
        "valid_from": "2026-01-01",
        "valid_to": "null",
        "force": "none",
    }
    header.update(fields)
    lines = [f"{key}: {value}" for key, value in header.items()]
    return "\n".join([*lines, "conditions:", *("  " + c for c in conditions.splitlines())]) + "\n"


def _fired(conditions: str, frame: pl.DataFrame | None = None) -> list[str]:
    rules = parse_rules(_rule(conditions), "test.yaml")
    hits = evaluate_rules(rules, _frame() if frame is None else frame, DAY)
    return hits["declaration_id"].to_list()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{field: country_of_origin, op: ==, value: CN}", ["D2"]),
        ("{field: country_of_origin, op: '!=', value: CN}", ["D1", "D3", "D4"]),
        ("{field: country_of_origin, op: in, value: [LY, FR]}", ["D1", "D3"]),
        ("{field: country_of_origin, op: not_in, value: [LY, FR]}", ["D2", "D4"]),
        ("{field: gross_mass_kg, op: '>', value: 10}", ["D2"]),
        ("{field: gross_mass_kg, op: '>=', value: 10}", ["D1", "D2"]),
        ("{field: gross_mass_kg, op: '<', value: 10}", ["D3"]),
        ("{field: gross_mass_kg, op: '<=', value: 10}", ["D1", "D3"]),
        ("{field: hs_code, op: startswith, value: '84'}", ["D2"]),
        ("{field: hs_code, op: startswith, value: ['93', '2844']}", ["D1", "D3"]),
        ("{field: goods_description, op: contains_any, value: [parts, samples]}", ["D2"]),
        ("{field: goods_description, op: contains_any, value: [RIFLES]}", ["D1"]),
        ("{field: un_number, op: is_null}", ["D1", "D2"]),
        ("{field: un_number, op: is_null, value: false}", ["D3", "D4"]),
        ("{field: consignee_age_days, op: '<', value: 30}", ["D1"]),
    ],
)
def test_each_operator_selects_the_expected_rows(condition: str, expected: list[str]) -> None:
    assert _fired(condition) == expected


def test_contains_any_matches_whole_words_only() -> None:
    # "part" must not fire on "PARTS" nor "apart": words, not substrings.
    assert _fired("{field: goods_description, op: contains_any, value: [part, rif]}") == []


def test_list_fields_match_when_any_element_matches() -> None:
    assert _fired("{field: transshipment_ports, op: in, value: [NLRTM]}") == ["D4"]
    assert _fired("{field: transshipment_ports, op: startswith, value: TR}") == ["D1"]
    # D2 has no list (null) and D3 an empty one: both count as "null" and neither holds NLRTM.
    assert _fired("{field: transshipment_ports, op: is_null}") == ["D2", "D3"]
    assert _fired("{field: transshipment_ports, op: not_in, value: [NLRTM]}") == ["D1", "D2", "D3"]


def test_derived_fields_are_computed_from_declaration_columns() -> None:
    assert _fired("{field: mass_per_package_kg, op: '>=', value: 100}") == ["D2"]
    assert _fired("{field: transshipment_count, op: '>=', value: 2}") == ["D1"]
    assert _fired("{field: transshipment_countries, op: in, value: [AE]}") == ["D1"]
    assert _fired("{field: origin_differs_from_dispatch, op: ==, value: true}") == ["D1", "D3"]
    assert _fired("{field: hs_chapter, op: ==, value: '28'}") == ["D3", "D4"]


def test_all_any_and_not_combine() -> None:
    conditions = """all:
  - {field: hs_code, op: startswith, value: ['93', '84', '2844']}
  - any:
      - {field: country_of_origin, op: ==, value: LY}
      - not: {field: gross_mass_kg, op: '>', value: 5}"""
    assert _fired(conditions) == ["D1", "D3"]


def test_null_never_satisfies_a_comparison() -> None:
    # D4 has no mass: it is neither heavy nor light.
    assert "D4" not in _fired("{field: gross_mass_kg, op: '<', value: 1000000}")
    assert "D4" not in _fired("{field: gross_mass_kg, op: '>=', value: 0}")


def test_hits_carry_rule_id_with_version_threat_weight_and_force() -> None:
    text = _rule("{field: country_of_origin, op: ==, value: LY}", version="3", force="red")
    hits = evaluate_rules(parse_rules(text, "t.yaml"), _frame(), DAY)
    assert hits.schema == pl.Schema(HITS_SCHEMA)
    assert hits.row(0, named=True) == {
        "declaration_id": "D1",
        "item_no": 1,
        "rule_id": "TEST-001@3",
        "threat": "salw",
        "weight": 0.25,
        "force_red": True,
        "title": "test rule",
    }


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "applies"),
    [
        ("2026-03-01", "null", True),
        ("2026-03-02", "null", False),
        ("2026-01-01", "2026-03-01", True),
        ("2026-01-01", "2026-02-28", False),
    ],
)
def test_only_rules_valid_on_the_list_date_apply(
    valid_from: str, valid_to: str, applies: bool
) -> None:
    text = _rule("{field: country_of_origin, op: ==, value: LY}", valid_from=valid_from)
    text = text.replace("valid_to: null", f"valid_to: {valid_to}")
    hits = evaluate_rules(parse_rules(text, "t.yaml"), _frame(), DAY)
    assert hits.height == (1 if applies else 0)


def test_a_new_version_replaces_the_old_one_on_its_start_date(tmp_path: Path) -> None:
    old = _rule("{field: country_of_origin, op: ==, value: LY}", valid_to="2026-02-28")
    new = _rule("{field: country_of_origin, op: ==, value: CN}", version="2")
    new = new.replace("valid_from: 2026-01-01", "valid_from: 2026-03-01")
    (tmp_path / "v1.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "v2.yaml").write_text(new, encoding="utf-8")
    rules = load_rules([tmp_path])
    assert evaluate_rules(rules, _frame(), date(2026, 2, 28))["rule_id"].to_list() == ["TEST-001@1"]
    assert evaluate_rules(rules, _frame(), DAY)["rule_id"].to_list() == ["TEST-001@2"]


def test_overlapping_versions_of_one_rule_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_rule("{field: mode, op: ==, value: sea}"), encoding="utf-8")
    second = _rule("{field: mode, op: ==, value: air}", version="2")
    (tmp_path / "b.yaml").write_text(second, encoding="utf-8")
    with pytest.raises(RuleError, match=r"b\.yaml:1: rule TEST-001@2 is valid from .*valid_to"):
        load_rules([tmp_path])


def test_unknown_field_names_the_file_line_and_field() -> None:
    text = _rule(
        "all:\n"
        "  - {field: country_of_origin, op: ==, value: LY}\n"
        "  - {field: hs_cod, op: ==, value: '93'}"
    )
    rules = parse_rules(text, "rules/salw.yaml")
    with pytest.raises(
        RuleError,
        match=r"rules/salw\.yaml:14: rule TEST-001@1: field 'hs_cod' is not a column of the "
        r"frame \(did you mean 'hs_code'\?",
    ):
        check_rules(rules, _frame().schema)


def test_wrongly_typed_values_are_refused_against_the_schema() -> None:
    rules = parse_rules(_rule("{field: packages, op: ==, value: 'five'}"), "r.yaml")
    with pytest.raises(RuleError, match=r"field 'packages': value 'five' does not fit"):
        check_rules(rules, _frame().schema)
    rules = parse_rules(_rule("{field: packages, op: startswith, value: '5'}"), "r.yaml")
    with pytest.raises(RuleError, match="needs a text field"):
        check_rules(rules, _frame().schema)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: [unclosed\n", r"bad\.yaml:2: not valid YAML"),
        ("- just text\n", "every rule must be a mapping"),
        (
            _rule("{field: mode, op: ==, value: sea}").replace("owner: tests\n", ""),
            "missing.*owner",
        ),
        (
            _rule("{field: mode, op: ==, value: sea}") + "colour: red\n",
            r"unknown rule field.*colour",
        ),
        (
            _rule("{field: mode, op: ==, value: sea}", threat="drugs"),
            "'threat' must be cbrn or salw",
        ),
        (
            _rule("{field: mode, op: ==, value: sea}", weight="3"),
            "'weight' must be a number from 0",
        ),
        (_rule("{field: mode, op: ==, value: sea}", force="amber"), "'force' must be red or none"),
        (_rule("{field: mode, op: ==, value: sea}", id="salw_1"), "'id' must look like SALW-003"),
        (_rule("{field: mode, op: ==, value: sea}", version="0"), "'version' must be an integer"),
        (
            _rule("{field: mode, op: ==, value: sea}", valid_from="soon"),
            "'valid_from' must be a date",
        ),
        (
            _rule("{field: mode, op: equals, value: sea}"),
            r"bad\.yaml:12: .*field 'mode': unknown op",
        ),
        (_rule("{field: mode, op: in, value: sea}"), "op 'in' needs a non-empty list"),
        (_rule("{field: mode, op: ==}"), "op '==' needs a 'value'"),
        (_rule("{field: packages, op: '>', value: many}"), "takes a number or a date"),
        (_rule("all: []"), "'all' needs a non-empty list"),
        (_rule("{op: ==, value: sea}"), "condition needs a 'field'"),
    ],
)
def test_bad_rule_files_give_clear_errors(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules(text, "bad.yaml")


def test_the_same_rule_version_twice_is_refused() -> None:
    text = _rule("{field: mode, op: ==, value: sea}")
    doc = "- " + text.replace("\n", "\n  ").rstrip() + "\n"
    with pytest.raises(RuleError, match="TEST-001@1 is already defined"):
        parse_rules(doc + doc, "twice.yaml")


def test_starter_rules_load_and_fire_on_their_indicators() -> None:
    rules = load_starter_rules()
    assert len(rules) >= 8
    assert {r.threat for r in rules} == {"cbrn", "salw"}
    assert all(r.source for r in rules), "every starter rule says where its indicator comes from"
    hits = evaluate_rules(rules, _frame(), DAY)
    fired = set(zip(hits["declaration_id"], hits["rule_id"], strict=True))
    assert ("D1", "SALW-001@1") in fired  # rifles from an embargoed country
    assert ("D1", "SALW-002@1") in fired  # and routed through a third country
    assert ("D2", "SALW-003@1") in fired  # "machine parts" at 100 kg per package
    assert ("D3", "CBRN-002@1") in fired  # HS 2844 described as a medical device
    assert ("D3", "CBRN-003@1") not in fired  # class 7 UN number but a nuclear heading
    assert ("D4", "CBRN-001@1") in fired  # phosphorus trichloride subheading
    assert ("D4", "CBRN-005@1") in fired  # ... to a consignee with two earlier items
    forced = set(hits.filter(pl.col("force_red"))["rule_id"])
    assert forced == {"SALW-001@1", "CBRN-002@1", "CBRN-005@1"}


def test_starter_rules_on_steel_samples_dual_use_and_radiation_apparatus() -> None:
    frame = pl.DataFrame(
        {
            "declaration_id": ["S1", "S2", "S3", "S4", "S5"],
            "item_no": [1, 1, 1, 1, 1],
            "hs_code": ["73269073", "722490", "902229", "852290", "902229"],
            "goods_description": [
                "Steel samples, no commercial value",
                "vacuum pump parts",
                "calibration equipment",
                "parts and accessories, pick-up cartridges",
                "gamma irradiator with source",
            ],
            "country_of_origin": ["PK", "TW", "TR", "JP", "CA"],
            "country_of_dispatch": ["AE", "TR", "TR", "JP", "CA"],
            "transshipment_ports": [None, None, ["DEFRA"], None, None],
            "gross_mass_kg": [414.0, 250.0, 785.0, 2.0, 900.0],
            "packages": [10, 5, 2, 1, 1],
            "un_number": [None, None, None, None, "2916"],
            "consignee_n_items": [5, 0, 0, 300, 40],
        },
        schema_overrides={"transshipment_ports": pl.List(pl.String())},
    )
    hits = evaluate_rules(load_starter_rules(), frame, DAY)
    fired = {d: sorted(g["rule_id"]) for (d,), g in hits.group_by("declaration_id")}
    assert fired == {
        "S1": ["SALW-003@1"],  # steel samples at 41 kg a package
        "S2": ["CBRN-004@1", "SALW-003@1"],  # alloy steel dispatched from a third country
        "S3": ["CBRN-006@1"],  # radiation apparatus without a class 7 UN number
        # S4: "cartridges" of a record player are no ammunition; S5 declares its source.
    }


def test_rules_do_not_apply_to_an_empty_frame() -> None:
    hits = evaluate_rules(load_starter_rules(), _frame().head(0), DAY)
    assert hits.height == 0
    assert hits.schema == pl.Schema(HITS_SCHEMA)


def test_rule_input_joins_features_onto_declarations_without_clobbering() -> None:
    from features.rules import rule_input

    declarations = _frame().drop("consignee_age_days", "consignee_n_items")
    features = pl.DataFrame(
        {
            "declaration_id": ["D3", "D1"],
            "item_no": [2, 1],
            "hs_code": ["000000", "000000"],  # a clash: the declaration's value must win
            "consignee_age_days": [40, 3],
        }
    )
    joined = rule_input(declarations, features)
    assert joined.height == 4
    assert joined["hs_code"].to_list() == _frame()["hs_code"].to_list()
    assert joined["consignee_age_days"].to_list() == [3, None, 40, None]
    rules = parse_rules(_rule("{field: consignee_age_days, op: '<', value: 30}"), "t.yaml")
    assert evaluate_rules(rules, joined, DAY)["declaration_id"].to_list() == ["D1"]


def test_starter_rules_fit_the_declarations_contract_and_the_feature_registry() -> None:
    # The nightly frame is the declarations contract joined with the registry's features.
    from contracts.declarations import DECLARATIONS
    from features.feature import POLARS_DTYPES
    from features.registry import FEATURES

    schema = dict(DECLARATIONS.polars_schema)
    schema.update({f.name: POLARS_DTYPES[f.dtype] for f in FEATURES if f.name not in schema})
    assert load_starter_rules(schema) == load_starter_rules()
    with pytest.raises(RuleError, match=r"CBRN-005\.yaml:\d+: .*'consignee_n_items' is not"):
        load_starter_rules(DECLARATIONS.polars_schema)


def test_docs_describe_every_starter_rule() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")
    for rule in load_starter_rules():
        assert f"| {rule.id} | {rule.threat} |" in docs, f"docs/rules.md lacks {rule.id}"


def _write_history(home: Path) -> None:
    """Staged declarations filed 2026-02-27, their features, and outcomes on 02-28 and 03-01."""
    from datetime import UTC, datetime

    from pipelines.io import write_parquet

    filed = "date=2026-02-27"
    declarations = pl.DataFrame(
        {
            "declaration_id": ["A1", "A2", "A3", "A4", "A5", "A5", "B1"],
            "item_no": [1, 1, 1, 1, 1, 2, 1],
            "hs_code": ["930190", "930190", "930100", "930390", "930200", "930500", "940360"],
        }
    )
    write_parquet(declarations, home / "staging/declarations" / filed / "declarations.parquet")
    write_parquet(declarations.select("declaration_id", "item_no"),
                  home / "features" / filed / "features.parquet")  # fmt: skip

    def outcomes(rows: list[tuple[str, int | None, str, str | None]], day: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "declaration_id": [r[0] for r in rows],
                "item_no": [r[1] for r in rows],
                "inspected_at": [datetime(2026, 2 + day // 29, 1 + (day - 1) % 28, 9, tzinfo=UTC)]
                * len(rows),
                "selection_reason": ["risk"] * len(rows),
                "result": [r[2] for r in rows],
                "finding_category": [r[3] for r in rows],
                "inspector_id": ["i1"] * len(rows),
            },
            schema_overrides={"item_no": pl.Int64, "finding_category": pl.String},
        )

    before = outcomes(
        [
            ("A1", 1, "finding", "salw"),
            ("A2", 1, "no_finding", None),
            ("A4", 1, "finding", "other"),  # not a CBRN/SALW finding
            ("A5", None, "no_finding", None),  # the whole declaration: both items
            ("B1", 1, "finding", "salw"),  # the rule did not fire on it
        ],
        28,
    )
    on_list_day = outcomes([("A3", 1, "finding", "salw")], 29)  # known only on the list's day
    write_parquet(before, home / "staging/outcomes/date=2026-02-28/outcomes.parquet")
    write_parquet(on_list_day, home / "staging/outcomes/date=2026-03-01/outcomes.parquet")


def test_rule_precision_is_measured_on_outcomes_known_before_the_list_date(
    tmp_path: Path,
) -> None:
    from pipelines.evidence import beta_mean, measure_evidence
    from pipelines.settings import load_settings

    _write_history(tmp_path)
    settings = load_settings(environ={}, home=tmp_path)
    rules = parse_rules(
        _rule("field: hs_chapter\nop: ==\nvalue: '93'", weight="0.5") + "\n",
    )
    evidence = measure_evidence(settings, DAY, rules, window_days=30, screen=False)
    # A1 (finding), A2, A4 (finding of another kind), A5 items 1 and 2; not A3 (inspected on the
    # list's day) and not B1 (the rule did not fire).
    assert evidence.rules.rows() == [("TEST-001@1", 5, 1)]
    assert evidence.inspected_items == 6
    precision = pl.select(beta_mean(pl.lit(0.5), 10.0, pl.lit(5), pl.lit(1))).item()
    assert precision == pytest.approx((10 * 0.5 + 1) / (10 + 5))
    # A day later the inspection of 03-01 is known and counts.
    later = measure_evidence(settings, date(2026, 3, 2), rules, window_days=30, screen=False)
    assert later.rules.rows() == [("TEST-001@1", 6, 2)]
    # A window that ends before the filings sees nothing: the prior alone.
    none = measure_evidence(settings, DAY, rules, window_days=1, screen=False)
    assert none.rules.is_empty() and none.inspected_items == 0


def test_the_run_report_shows_rule_precision_with_its_prior(tmp_path: Path) -> None:
    from pipelines.evidence import measure_evidence
    from pipelines.select import SelectionPolicy, precision_report
    from pipelines.settings import load_settings

    _write_history(tmp_path)
    settings = load_settings(environ={}, home=tmp_path)
    rules = parse_rules(_rule("field: hs_chapter\nop: ==\nvalue: '93'", weight="0.5"))
    rules += parse_rules(_rule("field: hs_chapter\nop: ==\nvalue: '28'", id="NEW-001"))
    evidence = measure_evidence(settings, DAY, rules, window_days=30, screen=False)
    report = precision_report(
        rules, evidence, SelectionPolicy(prior_strength=10, rule_prior_scale=1)
    )
    by_rule = {r["rule_id"]: r for r in report["rules"]}  # type: ignore[attr-defined]
    assert by_rule["TEST-001@1"]["precision"] == round(6 / 15, 4)
    assert by_rule["TEST-001@1"]["lift"] == round(0.5 * 10 / 15, 4)  # the prior's part
    # A rule nothing was inspected for keeps its weight.
    assert (by_rule["NEW-001@1"]["inspected"], by_rule["NEW-001@1"]["precision"]) == (0, 0.25)


def test_hits_of_items_alone_equal_their_hits_among_others() -> None:
    """`CompiledRules.hits` returns early when no item fires (most service calls): each item
    checked alone gives its hits of the whole frame, and no hit at all has the full schema."""
    rules = rules_valid_on(load_starter_rules(), DAY)
    calm = (
        _frame()
        .slice(1, 1)
        .with_columns(
            pl.lit("D5").alias("declaration_id"), pl.lit("wooden chairs").alias("goods_description")
        )
    )
    frame = pl.concat([_frame(), calm])
    compiled = CompiledRules(rules, frame.schema)
    whole = compiled.hits(frame)
    assert whole.height, "the frame must fire some rules"
    quiet = 0
    for n in range(frame.height):
        alone = compiled.hits(frame.slice(n, 1))
        key = frame.row(n, named=True)
        expected = whole.filter(
            (pl.col("declaration_id") == key["declaration_id"])
            & (pl.col("item_no") == key["item_no"])
        )
        assert_frame_equal(alone, expected)
        quiet += alone.height == 0
    assert quiet, "some item must fire nothing, to take the early return"
    assert_frame_equal(compiled.hits(frame.clear()), whole.clear())
