"""Selection: capacity, forced reds, the random quota, ranks, reasons and reproducibility."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from contracts.ranked_list import RANKED_LIST
from features.rules import HITS_SCHEMA
from pipelines.evidence import RULE_STATS_SCHEMA, WATCH_STATS_SCHEMA, Evidence
from pipelines.io import write_parquet
from pipelines.select import (
    RANDOM_REASON,
    RULE_HITS_FILE,
    SCORES_FILE,
    WATCHLIST_HITS_SCHEMA,
    Selection,
    SelectionPolicy,
    policy_from_settings,
    port_seed,
    rule_precision,
    select_day,
    select_lanes,
)
from pipelines.settings import Settings, load_settings
from tests.factories.hits import rule_hits as _rule_hits
from tests.factories.hits import watch_hits as _watch_hits

DAY = date(2026, 3, 1)


def _scores(n: int = 40, port: str = "NLRTM") -> pl.DataFrame:
    """n items of one port; risk rises with the number, a few without model reasons."""
    return pl.DataFrame(
        {
            "declaration_id": [f"{port}-{i:03d}" for i in range(n)],
            "item_no": [1] * n,
            "port_of_discharge": [port] * n,
            "risk_score": [round(i / n, 4) for i in range(n)],
            "cbrn_score": [round(i / n / 2, 4) for i in range(n)],
            "salw_score": [round(i / n / 3, 4) for i in range(n)],
            "reasons": [None if i % 7 == 0 else f"factor {i}" for i in range(n)],
            "model_version": ["v1"] * n,
        }
    )


NO_RULES = pl.DataFrame(schema=HITS_SCHEMA)
NO_WATCH = pl.DataFrame(schema=WATCHLIST_HITS_SCHEMA)


def _select(
    scores: pl.DataFrame,
    rule_hits: pl.DataFrame = NO_RULES,
    watch_hits: pl.DataFrame = NO_WATCH,
    evidence: Evidence | None = None,
    **policy: float,
) -> Selection:
    # A rule's prior is its weight itself here (scale 1), so tests read weights as priors.
    base = {"red_capacity": 6, "yellow_capacity": 5, "seed": 7, "rule_prior_scale": 1.0}
    settings = {**base, "watchlist_prior": 0.2, **policy}
    return select_lanes(
        scores,
        rule_hits,
        watch_hits,
        policy=SelectionPolicy(**settings),  # type: ignore[arg-type]
        day=DAY,
        run_id="run-1",
        evidence=evidence,
    )


def _rule_counts(counts: dict[str, tuple[int, int]]) -> pl.DataFrame:
    """Evidence rows: rule id -> (inspected items it fired on, findings among them)."""
    return pl.DataFrame(
        {
            "rule_id": list(counts),
            "inspected": [c[0] for c in counts.values()],
            "findings": [c[1] for c in counts.values()],
        },
        schema=RULE_STATS_SCHEMA,
    )


def _watch_counts(cells: list[tuple[bool, str, int, int]]) -> pl.DataFrame:
    """Evidence rows of entity hits: (hold, band, inspected, findings)."""
    return pl.DataFrame(
        [(hold, "entity", band, inspected, found) for hold, band, inspected, found in cells],
        schema=WATCH_STATS_SCHEMA,
        orient="row",
    )


def _lane(frame: pl.DataFrame, lane: str) -> pl.DataFrame:
    return frame.filter(pl.col("lane") == lane)


def test_output_is_exactly_the_ranked_list_contract() -> None:
    ranked = _select(_scores()).ranked
    assert ranked.schema == pl.Schema(RANKED_LIST.polars_schema)
    assert ranked["list_date"].unique().to_list() == [DAY]
    assert ranked["run_id"].unique().to_list() == ["run-1"]


def test_capacity_is_respected_and_lanes_follow_risk() -> None:
    ranked = _select(_scores()).ranked
    # The random item comes on top of the red capacity: all 6 slots still go to risk.
    assert _lane(ranked, "red").height == 7
    assert _lane(ranked, "yellow").height == 5
    assert _lane(ranked, "green").height == 40 - 12
    risk_red = _lane(ranked, "red").filter(pl.col("selection_reason") == "risk")
    assert risk_red.height == 6
    # Everything ranked by risk outside red scores below every risk-selected red item.
    others = ranked.filter(pl.col("selection_reason").is_null() | (pl.col("lane") == "yellow"))
    assert risk_red["risk_score"].min() > others["risk_score"].max()  # type: ignore[operator]


def test_ranks_run_from_one_to_n_per_port_by_score_random_items_in_place() -> None:
    scores = pl.concat([_scores(40, "NLRTM"), _scores(9, "BEANR")])
    ranked = _select(scores).ranked
    for port, n in (("NLRTM", 40), ("BEANR", 9)):
        part = ranked.filter(pl.col("port_of_discharge") == port).sort("rank")
        assert part["rank"].to_list() == list(range(1, n + 1))
        # Without holds the whole list runs by score, the random item where its score puts it.
        risks = part["risk_score"].to_list()
        assert risks == sorted(risks, reverse=True)
        # Leaving the random sample aside, the lanes run red, yellow, green.
        order = {"red": 0, "yellow": 1, "green": 2}
        policy = part.filter(pl.col("selection_reason").ne_missing("random"))
        lanes = [order[lane] for lane in policy["lane"]]
        assert lanes == sorted(lanes)
        assert part.filter(pl.col("selection_reason") == "random")["lane"].to_list() == ["red"]
    green = _lane(ranked.filter(pl.col("port_of_discharge") == "NLRTM"), "green").sort("rank")
    assert green["risk_score"].to_list() == sorted(green["risk_score"].to_list(), reverse=True)


def test_green_has_no_selection_reason_and_red_yellow_always_have_reasons() -> None:
    scores = _scores()
    hits = _rule_hits([("NLRTM-000", "SALW-001@1", 0.6, True)])
    ranked = _select(scores, hits, _watch_hits(["NLRTM-007"])).ranked
    assert _lane(ranked, "green")["selection_reason"].null_count() == _lane(ranked, "green").height
    selected = ranked.filter(pl.col("lane") != "green")
    assert selected["selection_reason"].null_count() == 0
    assert selected.filter(pl.col("reasons").is_null() | (pl.col("reasons") == "")).height == 0
    # NLRTM-000 and NLRTM-007 have no model reasons: the hit itself explains them.
    explained = dict(zip(ranked["declaration_id"], ranked["reasons"], strict=True))
    assert explained["NLRTM-000"].startswith("rule SALW-001@1: title of SALW-001@1")
    assert explained["NLRTM-007"] == "watch list: consignee matches UN QDi.0"
    # A risk-selected item without model reasons is explained by its scores.
    assert explained["NLRTM-035"] == "risk score 0.88 (CBRN 0.44, SALW 0.29)"


def test_forced_reds_come_first_watch_list_before_rules() -> None:
    hits = _rule_hits([("NLRTM-001", "SALW-001@1", 0.6, True), ("NLRTM-002", "X-1@1", 0.1, True)])
    ranked = _select(_scores(), hits, _watch_hits(["NLRTM-003"])).ranked.sort("rank")
    top = ranked.head(3)
    assert top["declaration_id"].to_list() == ["NLRTM-003", "NLRTM-001", "NLRTM-002"]
    assert top["selection_reason"].to_list() == ["watchlist", "rule", "rule"]
    assert top["lane"].to_list() == ["red"] * 3
    assert top["watchlist_hits"].to_list() == [["QDi.0"], [], []]
    assert top["rule_hits"].to_list() == [[], ["SALW-001@1"], ["X-1@1"]]


def test_forced_reds_beyond_capacity_still_go_red_and_are_reported() -> None:
    ids = [f"NLRTM-{i:03d}" for i in range(10)]
    selection = _select(_scores(), watch_hits=_watch_hits(ids), red_capacity=4)
    red = _lane(selection.ranked, "red")
    assert set(ids) <= set(red["declaration_id"])
    # The random sample is reserved even when forced items fill the capacity.
    assert red["selection_reason"].to_list().count("random") == 1
    assert red.height == 11
    assert selection.ports[0].over_capacity == 6
    assert selection.notes == [
        "NLRTM: 10 forced red items exceed the red capacity of 4 by 6 (10 watch-list holds and "
        "0 rule holds forced red, plus 1 random); all of them stay red"
    ]


def test_random_quota_is_marked_explained_and_drawn_from_unforced_items() -> None:
    scores = _scores(400)
    forced = [f"NLRTM-{i:03d}" for i in range(0, 400, 2)]
    selection = _select(scores, watch_hits=_watch_hits(forced), red_capacity=300)
    randoms = selection.ranked.filter(pl.col("selection_reason") == "random")
    assert randoms.height == 5  # 1.5% of 300 = 4.5, half rounds up
    assert set(randoms["lane"]) == {"red"}
    assert not set(randoms["declaration_id"]) & set(forced)
    assert all(RANDOM_REASON in r for r in randoms["reasons"])


@pytest.mark.parametrize(
    ("capacity", "share", "quota"),
    [(0, 0.015, 0), (1, 0.015, 1), (20, 0.015, 1), (100, 0.015, 2), (200, 0.015, 3), (100, 0, 0)],
)
def test_random_quota_size(capacity: int, share: float, quota: int) -> None:
    assert SelectionPolicy(random_quota_share=share).random_quota(capacity) == quota


def test_random_draw_is_reproducible_and_varies_with_date_port_and_seed() -> None:
    scores = _scores(500).sample(fraction=1.0, shuffle=True, seed=3)

    def drawn(frame: pl.DataFrame, day: date = DAY, seed: int = 7) -> list[str]:
        ranked = select_lanes(
            frame,
            NO_RULES,
            NO_WATCH,
            policy=SelectionPolicy(red_capacity=200, seed=seed),
            day=day,
            run_id="r",
        ).ranked
        return sorted(ranked.filter(pl.col("selection_reason") == "random")["declaration_id"])

    first = drawn(scores)
    assert len(first) == 3
    assert drawn(scores.sort("declaration_id")) == first  # input order does not matter
    assert drawn(scores, seed=8) != first
    assert drawn(scores, day=date(2026, 3, 2)) != first
    assert port_seed(7, DAY, "NLRTM") != port_seed(7, DAY, "BEANR")


def test_rule_weight_lifts_an_item_into_red_with_reason_rule() -> None:
    hits = _rule_hits([("NLRTM-001", "SALW-003@1", 1.0, False)])
    ranked = _select(_scores(), hits, random_quota_share=0).ranked
    row = ranked.filter(pl.col("declaration_id") == "NLRTM-001").row(0, named=True)
    assert (row["lane"], row["selection_reason"], row["rank"]) == ("red", "rule", 1)
    # 40 past inspections of the rule without a finding: 10 x 1.0 / (10 + 40) = 0.2, so the
    # item falls below the 31 items whose risk is above 0.2 and out of red and yellow.
    measured = Evidence(rules=_rule_counts({"SALW-003@1": (40, 0)}))
    ranked = _select(_scores(), hits, random_quota_share=0, evidence=measured).ranked
    row = ranked.filter(pl.col("declaration_id") == "NLRTM-001").row(0, named=True)
    assert (row["lane"], row["rank"]) == ("green", 33)


def test_a_weak_rule_hit_ranks_by_expected_precision_not_above_risk() -> None:
    # NLRTM-000 gets risk 0.002; its rule's weight 0.31 is its expected precision, below 0.43.
    scores = _scores().with_columns(
        risk_score=pl.when(pl.col("declaration_id") == "NLRTM-000")
        .then(0.002)
        .otherwise(pl.col("risk_score"))
    )
    hits = _rule_hits([("NLRTM-000", "R-1@1", 0.31, False)])
    ranked = _select(scores, hits, random_quota_share=0, red_capacity=30).ranked
    row = ranked.filter(pl.col("declaration_id") == "NLRTM-000").row(0, named=True)
    assert row["selection_reason"] == "rule"
    above = ranked.filter(pl.col("rank") < row["rank"])["risk_score"]
    below = ranked.filter(pl.col("rank") > row["rank"])["risk_score"]
    assert above.min() > 0.31 > below.max()  # type: ignore[operator]
    # Weights are not added on top of the risk: a rule weaker than the risk leaves it "risk".
    hits = _rule_hits([("NLRTM-039", "R-1@1", 0.3, False)])
    top = _select(scores, hits, random_quota_share=0).ranked.sort("rank").row(0, named=True)
    assert (top["declaration_id"], top["selection_reason"]) == ("NLRTM-039", "risk")


def test_a_non_hold_watch_list_hit_is_ranked_not_forced() -> None:
    # Prior 0.5 times score 1.0: ranks right after the 20 items with risk >= 0.5 (a tie goes to
    # risk).
    watch = _watch_hits(["NLRTM-001"], hold=False)
    ranked = _select(
        _scores(), watch_hits=watch, random_quota_share=0, red_capacity=30, watchlist_prior=0.5
    ).ranked
    row = ranked.filter(pl.col("declaration_id") == "NLRTM-001").row(0, named=True)
    assert (row["rank"], row["lane"], row["selection_reason"]) == (21, "red", "watchlist")
    small = _select(_scores(), watch_hits=watch, random_quota_share=0, watchlist_prior=0.5).ranked
    assert small.filter(pl.col("declaration_id") == "NLRTM-001")["lane"].item() == "green"
    # A weak match on a high-risk item: the risk decided the rank.
    weak = _watch_hits(["NLRTM-030"], hold=False, score=0.2)
    ranked = _select(_scores(), watch_hits=weak, random_quota_share=0).ranked
    row = ranked.filter(pl.col("declaration_id") == "NLRTM-030").row(0, named=True)
    assert (row["rank"], row["selection_reason"], row["watchlist_hits"]) == (10, "risk", ["QDi.0"])


def test_holds_stay_forced_and_random_does_not_take_risk_slots() -> None:
    hits = _rule_hits([("NLRTM-001", "SALW-001@1", 0.01, True)])
    watch = _watch_hits(["NLRTM-002"], hold=True, score=0.1)
    selection = _select(_scores(), hits, watch, random_quota_share=0.5)
    ranked = selection.ranked.sort("rank")
    assert ranked.head(2)["selection_reason"].to_list() == ["watchlist", "rule"]
    red = _lane(ranked, "red")
    # 6 red slots - 2 forced = 4 by risk, plus 3 random (50% of 6) on top.
    assert red["selection_reason"].value_counts(sort=True).sort("selection_reason").rows() == [
        ("random", 3),
        ("risk", 4),
        ("rule", 1),
        ("watchlist", 1),
    ]
    assert red.filter(pl.col("selection_reason") == "risk")["declaration_id"].to_list() == [
        f"NLRTM-{i:03d}" for i in (39, 38, 37, 36)
    ]
    assert selection.notes == []


def test_hits_in_any_order_give_the_same_list() -> None:
    watch = pl.DataFrame(
        {
            "declaration_id": ["NLRTM-005"] * 3,
            "item_no": [1, 1, 1],
            "entry_id": ["QDe.115", "QDe.115", "12345"],
            "list_name": ["un", "un", "ofac"],
            "reason": ["shipper matches UN QDe.115", "consignee matches UN QDe.115", "ofac hit"],
        },
        # An older hits file without hold/score: read as mandatory holds.
        schema={
            k: v
            for k, v in WATCHLIST_HITS_SCHEMA.items()
            if k not in ("hold", "score", "entry_type")
        },
    )
    rules = _rule_hits([("NLRTM-005", "SALW-003@1", 0.2, False), ("NLRTM-005", "X-1@1", 0.1, True)])
    first = _select(_scores(), rules, watch).ranked
    for seed in range(5):
        shuffled = _select(
            _scores().sample(fraction=1, shuffle=True, seed=seed),
            rules.sample(fraction=1, shuffle=True, seed=seed),
            watch.sample(fraction=1, shuffle=True, seed=seed),
        ).ranked
        assert shuffled.equals(first)
    row = first.filter(pl.col("declaration_id") == "NLRTM-005").row(0, named=True)
    assert row["watchlist_hits"] == ["12345", "QDe.115"]
    assert (row["rank"], row["selection_reason"]) == (1, "watchlist")
    assert row["reasons"].startswith(
        "watch list: ofac hit; watch list: consignee matches UN QDe.115; "
        "watch list: shipper matches UN QDe.115; rule SALW-003@1"
    )


def test_a_repeated_rule_hit_counts_once() -> None:
    once = _rule_hits([("NLRTM-001", "SALW-003@1", 0.5, False)])
    twice = pl.concat([once, once])
    assert _select(_scores(), twice).ranked.equals(_select(_scores(), once).ranked)
    row = _select(_scores(), twice).ranked.filter(pl.col("declaration_id") == "NLRTM-001")
    assert row["rule_hits"].to_list() == [["SALW-003@1"]]


def test_capacity_overrides_apply_per_port() -> None:
    scores = pl.concat([_scores(30, "NLRTM"), _scores(30, "BEANR")])
    policy = SelectionPolicy(
        red_capacity=5, yellow_capacity=5, capacity_overrides={"BEANR": (2, 0)}
    )
    ranked = select_lanes(scores, NO_RULES, NO_WATCH, policy=policy, day=DAY, run_id="r").ranked
    counts = dict(
        ranked.group_by("port_of_discharge", "lane")
        .len()
        .select(pl.concat_str("port_of_discharge", "lane", separator="/"), "len")
        .iter_rows()
    )
    # Red capacity plus the one random item per port.
    assert counts == {"NLRTM/red": 6, "NLRTM/yellow": 5, "NLRTM/green": 19,
                      "BEANR/red": 3, "BEANR/green": 27}  # fmt: skip


def test_bad_input_is_refused_with_the_column_named() -> None:
    with pytest.raises(ValueError, match=r"scores: missing column\(s\) \['risk_score'\]"):
        _select(_scores().drop("risk_score"))
    with pytest.raises(ValueError, match=r"repeat a key.*NLRTM-000"):
        _select(pl.concat([_scores(3), _scores(3)]))
    with pytest.raises(ValueError, match=r"risk_score missing or outside 0\.\.1.*NLRTM-002"):
        _select(_scores(3).with_columns(risk_score=pl.Series([0.1, 0.2, 1.5])))
    with pytest.raises(ValueError, match="cbrn_score missing"):
        _select(_scores(3).with_columns(cbrn_score=pl.lit(None, pl.Float64)))
    with pytest.raises(ValueError, match="capacities and floors must be >= 0"):
        SelectionPolicy(red_capacity=-1)


def test_an_empty_day_gives_an_empty_contract_frame() -> None:
    selection = _select(_scores().head(0))
    assert selection.ranked.height == 0
    assert selection.ranked.schema == pl.Schema(RANKED_LIST.polars_schema)
    assert selection.ports == ()


def test_select_day_reads_the_scores_partition(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path, seed=7)
    partition = settings.zone("scores") / f"date={DAY.isoformat()}"
    write_parquet(_scores(), partition / SCORES_FILE)
    write_parquet(_rule_hits([("NLRTM-004", "SALW-001@1", 0.6, True)]), partition / RULE_HITS_FILE)
    policy = SelectionPolicy(red_capacity=6, yellow_capacity=5, seed=7)
    from_files = select_day(settings, DAY, "run-1", policy).ranked
    in_memory = _select(_scores(), _rule_hits([("NLRTM-004", "SALW-001@1", 0.6, True)])).ranked
    assert from_files.equals(in_memory)
    custom = load_settings(
        environ={"CARGO_RISK_CAPACITY_OVERRIDES": '{"BEANR": [3, 9]}'},
        home=tmp_path,
        seed=7,
        capacity_red_default=11,
        random_quota_share=0.1,
    )
    built = policy_from_settings(custom)
    assert (built.seed, built.red_capacity, built.random_quota_share) == (7, 11, 0.1)
    assert (built.capacity("BEANR"), built.capacity("NLRTM")) == ((3, 9), (11, 40))
    with pytest.raises(FileNotFoundError, match="no scores for 2026-03-02"):
        select_day(settings, date(2026, 3, 2), "run-1", policy)


def _declarations() -> pl.DataFrame:
    """Two declaration items in the contract's types: rifles from Libya and plain furniture."""
    from datetime import UTC, datetime

    from contracts.declarations import DECLARATIONS

    rows = {
        "declaration_id": ["A-1", "B-1"],
        "item_no": [1, 1],
        "filed_at": [datetime(2026, 3, 1, 8, tzinfo=UTC)] * 2,
        "mode": ["sea", "sea"],
        "port_of_loading": ["TRMER", "CNSHA"],
        "port_of_discharge": ["NLRTM", "NLRTM"],
        "transshipment_ports": [["AEJEA"], None],
        "country_of_origin": ["LY", "CN"],
        "country_of_dispatch": ["TR", "CN"],
        "hs_code": ["930190", "940360"],
        "goods_description": ["hunting rifles", "wooden furniture"],
        "packages": [2, 10],
        "gross_mass_kg": [40.0, 300.0],
    }
    frame = pl.DataFrame(rows)
    return frame.with_columns(
        pl.lit(None).alias(name) for name in DECLARATIONS.names if name not in rows
    ).select(pl.col(name).cast(dtype) for name, dtype in DECLARATIONS.polars_schema.items())


def test_rules_stage_writes_the_days_hits_beside_the_scores(tmp_path: Path) -> None:
    from pipelines.rules import evaluate_rules_day

    settings = load_settings(environ={}, home=tmp_path)
    stamp = "date=2026-03-01"
    write_parquet(
        _declarations(),
        settings.zone("staging") / "declarations" / stamp / "declarations.parquet",
    )
    features = pl.DataFrame(
        {"declaration_id": ["A-1", "B-1"], "item_no": [1, 1], "consignee_n_items": [0, 500]}
    )
    write_parquet(features, settings.zone("features") / stamp / "features.parquet")
    path = evaluate_rules_day(settings, DAY)
    assert path == settings.zone("scores") / stamp / RULE_HITS_FILE
    hits = pl.read_parquet(path)
    assert hits.schema == pl.Schema(HITS_SCHEMA)
    assert hits["rule_id"].to_list() == ["SALW-001@1", "SALW-002@1"]
    assert set(hits["declaration_id"]) == {"A-1"}
    with pytest.raises(FileNotFoundError, match="run the validate stage first"):
        evaluate_rules_day(settings, date(2026, 3, 2))


def _rules_home(tmp_path: Path, features: pl.DataFrame) -> Settings:
    settings = load_settings(environ={}, home=tmp_path)
    stamp = "date=2026-03-01"
    write_parquet(
        _declarations(),
        settings.zone("staging") / "declarations" / stamp / "declarations.parquet",
    )
    write_parquet(features, settings.zone("features") / stamp / "features.parquet")
    return settings


_RULE_YAML = """
id: TEST-001
version: 1
title: Arms chapter, light parcels, shipper new to us
description: test rule
threat: salw
weight: 0.3
owner: tests
valid_from: 2026-01-01
force: none
conditions:
  all:
    - {field: hs_chapter, op: "==", value: "93"}
    - {field: mass_per_package_kg, op: "<", value: 50}
    - {field: FIELD, op: ">=", value: 1}
"""


def test_rules_stage_reads_stored_and_derived_fields_only_as_needed(tmp_path: Path) -> None:
    from pipelines.rules import evaluate_rules_day

    features = pl.DataFrame(
        {
            "declaration_id": ["A-1", "B-1"],
            "item_no": [1, 1],
            "shipper_is_new": [1, 1],
            # A feature column named like a declaration column: the declaration's value counts.
            "hs_code": ["000000", "930100"],
        }
    )
    settings = _rules_home(tmp_path, features)
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(_RULE_YAML.replace("FIELD", "shipper_is_new"), encoding="utf-8")
    hits = pl.read_parquet(evaluate_rules_day(settings, DAY, [rule_file]))
    assert hits.select("declaration_id", "rule_id").rows() == [("A-1", "TEST-001@1")]


def test_rules_stage_names_a_misspelt_field_with_its_neighbours(tmp_path: Path) -> None:
    from features.rules import RuleError
    from pipelines.rules import evaluate_rules_day

    features = pl.DataFrame({"declaration_id": ["A-1"], "item_no": [1], "shipper_is_new": [1]})
    settings = _rules_home(tmp_path, features)
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(_RULE_YAML.replace("FIELD", "shipper_is_nwe"), encoding="utf-8")
    with pytest.raises(RuleError, match=r"rule.yaml:\d+: .*'shipper_is_nwe'.*'shipper_is_new'"):
        evaluate_rules_day(settings, DAY, [rule_file])


def test_rules_stage_before_any_rule_is_valid_writes_empty_hits(tmp_path: Path) -> None:
    from pipelines.rules import evaluate_rules_day

    settings = load_settings(environ={}, home=tmp_path)
    early = date(2025, 1, 4)
    stamp = f"date={early.isoformat()}"
    write_parquet(
        _declarations(),
        settings.zone("staging") / "declarations" / stamp / "declarations.parquet",
    )
    features = pl.DataFrame({"declaration_id": ["A-1"], "item_no": [1]})
    write_parquet(features, settings.zone("features") / stamp / "features.parquet")
    hits = pl.read_parquet(evaluate_rules_day(settings, early))
    assert hits.is_empty()
    assert hits.schema == pl.Schema(HITS_SCHEMA)


def test_a_measured_low_precision_rule_does_not_outrank_a_high_risk_item() -> None:
    # NLRTM-000 (risk 0.0) fires a rule of weight 0.9, but 90 past inspections found 2 threats:
    # precision (10 x 0.9 + 2) / (10 + 90) = 0.11; it ranks by the prior's part, 9 / 100 = 0.09
    # (the model learnt the 2 findings), below NLRTM-017 (risk 0.425).
    hits = _rule_hits([("NLRTM-000", "R-9@1", 0.9, False)])
    prior_only = _select(_scores(), hits, random_quota_share=0).ranked
    # Prior only: its weight 0.9 ties NLRTM-036 (risk 0.9), and a tie goes to the risk.
    assert prior_only.filter(pl.col("declaration_id") == "NLRTM-000")["rank"].item() == 5
    measured = Evidence(rules=_rule_counts({"R-9@1": (90, 2)}))
    ranked = _select(_scores(), hits, random_quota_share=0, evidence=measured).ranked
    rank = dict(zip(ranked["declaration_id"], ranked["rank"], strict=True))
    assert rank["NLRTM-017"] < rank["NLRTM-000"]
    assert rank["NLRTM-000"] == 1 + sum(1 for i in range(40) if i / 40 > 0.09)
    # The precision and the lift, side by side.
    table = rule_precision(hits, measured, SelectionPolicy(rule_prior_scale=1)).row(0, named=True)
    assert table["precision"] == pytest.approx(0.11)
    assert table["lift"] == pytest.approx(0.09)


def test_a_well_inspected_rule_leaves_the_ranking_to_the_model() -> None:
    # 88 findings in 90 inspections: the model was trained on those outcomes, so the item ranks
    # by its own risk (0.1) and the rule keeps only its prior's part, 0.5 x 10 / 100 = 0.05.
    good = Evidence(rules=_rule_counts({"R-9@1": (90, 88)}))
    hits = _rule_hits([("NLRTM-004", "R-9@1", 0.5, False)])
    ranked = _select(_scores(), hits, random_quota_share=0, evidence=good).ranked
    row = ranked.filter(pl.col("declaration_id") == "NLRTM-004").row(0, named=True)
    assert row["selection_reason"] is None  # green: ranked by its risk, below every item above 0.1
    assert row["rank"] == 1 + sum(1 for i in range(40) if i / 40 > 0.1)
    # Without outcomes the same rule lifts the item to its weight.
    fresh = _select(_scores(), hits, random_quota_share=0, red_capacity=30).ranked
    row = fresh.filter(pl.col("declaration_id") == "NLRTM-004").row(0, named=True)
    assert row["rank"] == 1 + sum(1 for i in range(40) if i / 40 >= 0.5)
    assert row["selection_reason"] == "rule"


def test_a_legal_hold_stays_forced_whatever_its_measured_precision() -> None:
    hits = _rule_hits([("NLRTM-003", "LEGAL-1@1", 0.05, True)])
    watch = _watch_hits(["NLRTM-004"], hold=True, score=0.91)
    never_found = Evidence(
        rules=_rule_counts({"LEGAL-1@1": (500, 0)}),
        watchlist=_watch_counts([(True, "close", 300, 0)]),
    )
    selection = _select(_scores(), hits, watch, evidence=never_found, red_capacity=2)
    top = selection.ranked.sort("rank").head(2)
    assert top["declaration_id"].to_list() == ["NLRTM-004", "NLRTM-003"]
    assert top["lane"].to_list() == ["red", "red"]
    port = selection.ports[0]
    assert (port.watchlist, port.rule, port.risk) == (1, 1, 0)


def test_watch_list_hits_weigh_by_match_strength_and_their_measured_cell() -> None:
    exact = _watch_hits(["NLRTM-001"], hold=False, score=1.0)
    close = _watch_hits(["NLRTM-002"], hold=False, score=0.92)
    both = pl.concat([exact, close])
    ranked = _select(_scores(), watch_hits=both, random_quota_share=0, watchlist_prior=0.5).ranked
    rank = dict(zip(ranked["declaration_id"], ranked["rank"], strict=True))
    assert rank["NLRTM-001"] < rank["NLRTM-002"]  # 0.50 before 0.46
    # 148 inspected exact entity matches found 4 threats: (10 x 0.5 + 4) / 158 = 0.057.
    cells = _watch_counts([(False, "exact", 148, 4)])
    measured = _select(
        _scores(),
        watch_hits=both,
        evidence=Evidence(watchlist=cells),
        random_quota_share=0,
        watchlist_prior=0.5,
    ).ranked
    rank = dict(zip(measured["declaration_id"], measured["rank"], strict=True))
    assert rank["NLRTM-002"] < rank["NLRTM-001"]
    # After NLRTM-002 (0.46) and every item with risk above 0.057.
    assert rank["NLRTM-001"] == 2 + sum(1 for i in range(40) if i / 40 > 9 / 158)


def test_the_random_slice_never_displaces_a_risk_ranked_item() -> None:
    hits = _rule_hits([("NLRTM-001", "LEGAL-1@1", 0.1, True)])
    for share in (0.0, 0.5, 1.0):
        selection = _select(_scores(), hits, red_capacity=6, random_quota_share=share)
        ranked = selection.ranked.sort("rank")
        reasons = ranked.head(6)["selection_reason"].to_list()
        # Hold first, then the 5 best by risk, whatever the random quota; randoms come after.
        assert reasons == ["rule"] + ["risk"] * 5
        assert ranked.head(6)["declaration_id"].to_list()[1:] == [
            f"NLRTM-{i:03d}" for i in (39, 38, 37, 36, 35)
        ]
        randoms = ranked.filter(pl.col("selection_reason") == "random")
        assert randoms.height == (0 if share == 0 else max(1, int(6 * share + 0.5)))
        assert (randoms["rank"] > 6).all()
        assert set(randoms["lane"]) <= {"red"}
        slices = selection.slices.group_by("slice").len().sort("slice").rows()
        assert dict(slices) == {
            "hold": 1,
            "risk": 5,
            **({"random": randoms.height} if share else {}),
        }


@pytest.mark.parametrize(
    ("items", "override", "expected"),
    [
        (57, None, (1, 2)),  # 2% of 57 = 1.14 -> 1 red; 4% = 2.28 -> 2 yellow
        (10, None, (1, 1)),  # the floors
        (0, None, (1, 1)),
        (2_500, None, (50, 100)),
        (10_000, None, (80, 150)),  # the ceilings
        (2_500, (7, 9), (7, 9)),  # a port override wins over the share
    ],
)
def test_capacity_is_a_share_of_the_port_between_floor_and_ceiling(
    items: int, override: tuple[int, int] | None, expected: tuple[int, int]
) -> None:
    policy = SelectionPolicy(
        red_capacity=80,
        yellow_capacity=150,
        red_share=0.02,
        yellow_share=0.04,
        capacity_overrides={"TZDAR": override} if override else {},
    )
    assert policy.capacity("TZDAR", items) == expected


def test_a_small_port_does_not_get_a_lane_for_every_item() -> None:
    scores = pl.concat([_scores(57, "TZTGT"), _scores(2_000, "TZDAR")])
    settings = load_settings(environ={}, home=Path("/nonexistent"), seed=7)
    selection = select_lanes(
        scores,
        NO_RULES,
        NO_WATCH,
        policy=policy_from_settings(settings),
        day=DAY,
        run_id="r",
    )
    ports = {p.port: p for p in selection.ports}
    small, big = ports["TZTGT"], ports["TZDAR"]
    assert (small.red_capacity, small.yellow_capacity) == (1, 2)
    assert (small.red, small.yellow, small.green) == (2, 2, 53)  # 1 by risk + 1 random
    assert (big.red_capacity, big.yellow_capacity) == (20, 40)  # 40 and 80 capped
    assert round(small.red_share, 4) == round(1 / 57, 4)
    assert small.as_dict()["risk"] == 1 and small.as_dict()["random"] == 1


def test_settings_choose_the_share_floor_ceiling_and_priors() -> None:
    settings = load_settings(
        environ={"CARGO_RISK_CAPACITY_RED_SHARE": "0.05"},
        home=Path("/nonexistent"),
        capacity_red_floor=3,
        capacity_red_default=9,
        precision_prior_strength=25,
        watchlist_prior_precision=0.1,
    )
    policy = policy_from_settings(settings)
    assert [policy.capacity("X", n)[0] for n in (10, 100, 1_000)] == [3, 5, 9]
    assert (policy.prior_strength, policy.watchlist_prior) == (25, 0.1)


def test_the_run_report_shows_each_slice_and_what_it_found(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pipelines.layout import run_report_dir
    from pipelines.report import render_run_report, slice_findings
    from pipelines.select import record_selection

    settings = load_settings(
        environ={}, home=tmp_path, seed=7, capacity_red_share=0.1, capacity_yellow_share=0.1
    )
    partition = settings.zone("scores") / f"date={DAY.isoformat()}"
    write_parquet(_scores(), partition / SCORES_FILE)
    write_parquet(_rule_hits([("NLRTM-004", "LEGAL-1@1", 0.6, True)]), partition / RULE_HITS_FILE)
    folder = run_report_dir(settings, DAY)
    selection, summary = record_selection(settings, DAY, "run-1", folder)
    port = summary["ports"]["NLRTM"]  # type: ignore[index]
    # 10% of 40 items = 4 red: 1 legal hold + 3 by risk, then 1 random on top.
    assert (port["red_capacity"], port["hold"], port["risk"], port["random"]) == (4, 1, 3, 1)
    assert port["red_share"] == 0.1
    red = selection.slices.sort("slice")
    assert red["slice"].to_list() == ["hold", "random", "risk", "risk", "risk"]
    # Outcomes of the list: the hold and one risk item inspected, the risk item found a threat.
    risk_ids = red.filter(pl.col("slice") == "risk")["declaration_id"].to_list()
    outcomes = pl.DataFrame(
        {
            "declaration_id": ["NLRTM-004", risk_ids[0], "NLRTM-010"],
            "item_no": [1, 1, 1],
            "inspected_at": [datetime(2026, 3, 2, 10, tzinfo=UTC)] * 3,
            "selection_reason": ["rule", "risk", "manual"],
            "result": ["no_finding", "finding", "finding"],
            "finding_category": [None, "cbrn", "salw"],
            "inspector_id": ["i1"] * 3,
        }
    )
    write_parquet(outcomes, settings.zone("staging") / "outcomes/date=2026-03-02/outcomes.parquet")
    found = slice_findings(settings, DAY)
    assert found == {
        "NLRTM": {"hold": {"inspected": 1, "found": 0}, "risk": {"inspected": 1, "found": 1}}
    }
    text = render_run_report(DAY, {"select": {**summary, "found": found}})
    assert "| NLRTM | 40 | 4 | 10.0% | 1/1/0 | 3/1/1 | 1 | 5 | 4 | 31 |" in text
    assert "| LEGAL-1@1 |" not in text  # only the night's rule files are listed


def test_an_unmeasured_rule_ranks_by_its_weight_times_the_prior_scale() -> None:
    hits = _rule_hits([("NLRTM-000", "NEW-1@1", 0.5, False)])
    full = _select(_scores(), hits, random_quota_share=0).ranked
    scaled = _select(_scores(), hits, random_quota_share=0, rule_prior_scale=0.1).ranked
    rank_full = full.filter(pl.col("declaration_id") == "NLRTM-000")["rank"].item()
    rank_scaled = scaled.filter(pl.col("declaration_id") == "NLRTM-000")["rank"].item()
    assert rank_full == 1 + sum(1 for i in range(40) if i / 40 >= 0.5)
    assert rank_scaled == 1 + sum(1 for i in range(40) if i / 40 >= 0.05)
    table = rule_precision(hits, Evidence(), SelectionPolicy(rule_prior_scale=0.1)).row(
        0, named=True
    )
    assert (table["weight"], table["prior"], table["lift"]) == (0.5, 0.05, 0.05)
    with pytest.raises(ValueError, match="rule_prior_scale must be between 0 and 1"):
        SelectionPolicy(rule_prior_scale=2)


def _consignment(scores: pl.DataFrame, declaration: str, risks: list[float]) -> pl.DataFrame:
    """`scores` plus one declaration of several items with the given risks."""
    n = len(risks)
    extra = pl.DataFrame(
        {
            "declaration_id": [declaration] * n,
            "item_no": list(range(1, n + 1)),
            "port_of_discharge": ["NLRTM"] * n,
            "risk_score": risks,
            "cbrn_score": risks,
            "salw_score": [0.0] * n,
            "reasons": ["factor"] * n,
            "model_version": ["v1"] * n,
        }
    )
    return pl.concat([scores, extra.cast(scores.schema)])  # type: ignore[arg-type]


def test_a_held_consignment_takes_one_slot_and_its_other_items_stay_red_in_place() -> None:
    # A listed shipper's declaration of three items: the match holds all three (the party is on
    # every item), one examination of the consignment covers them.
    scores = _consignment(_scores(), "HELD-1", [0.30, 0.05, 0.60])
    watch = pl.concat(
        [
            _watch_hits(["HELD-1"]).with_columns(pl.lit(i, dtype=pl.Int64).alias("item_no"))
            for i in (1, 2, 3)
        ]
    )
    selection = _select(scores, watch_hits=watch, random_quota_share=0)
    ranked = selection.ranked.sort("rank")
    held = ranked.filter(pl.col("declaration_id") == "HELD-1").sort("rank")
    # Every item of the consignment is held: red, for the watch list, never released.
    assert held["lane"].to_list() == ["red"] * 3
    assert held["selection_reason"].to_list() == ["watchlist"] * 3
    # The item likeliest to hold the finding leads the list; the others sit by their score less
    # their gap to it: 0.30 x (1 - (0.60 - 0.30)) = 0.21 for item 1.
    assert held["item_no"].to_list() == [3, 1, 2]
    assert held["rank"][0] == 1
    others = ranked.filter(pl.col("declaration_id") != "HELD-1")
    assert held["rank"][1] == 2 + others.filter(pl.col("risk_score") > 0.21).height
    # One slot: 6 red slots - 1 = 5 by risk, the best 5 of the rest.
    risk_red = ranked.filter(pl.col("selection_reason") == "risk", pl.col("lane") == "red")
    assert risk_red["declaration_id"].to_list() == [f"NLRTM-{i:03d}" for i in (39, 38, 37, 36, 35)]
    assert ranked.head(6)["declaration_id"].to_list() == [
        "HELD-1",
        *risk_red["declaration_id"].to_list(),
    ]
    port = selection.ports[0]
    assert (port.watchlist, port.consignment, port.slots_held, port.risk) == (3, 2, 1, 5)
    assert port.as_dict()["hold_slots"] == 1 and port.over_capacity == 0
    assert dict(selection.slices.group_by("slice").len().rows()) == {"hold": 3, "risk": 5}


def test_held_consignments_beyond_capacity_count_one_slot_each_in_the_note() -> None:
    scores = _consignment(_consignment(_scores(), "HELD-1", [0.2, 0.1]), "HELD-2", [0.3, 0.1])
    watch = pl.concat(
        [
            _watch_hits([d]).with_columns(pl.lit(i, dtype=pl.Int64).alias("item_no"))
            for d in ("HELD-1", "HELD-2")
            for i in (1, 2)
        ]
    )
    selection = _select(scores, watch_hits=watch, red_capacity=1, random_quota_share=0)
    port = selection.ports[0]
    assert (port.slots_held, port.over_capacity, port.red) == (2, 1, 4)
    assert selection.notes == [
        "NLRTM: 2 forced red items exceed the red capacity of 1 by 1 (2 watch-list holds and 0 "
        "rule holds forced red, plus 0 random and 2 other items of held consignments); all of "
        "them stay red"
    ]
    assert selection.ranked.sort("rank").head(2)["declaration_id"].to_list() == [
        "HELD-2",
        "HELD-1",
    ]


def test_a_random_item_never_sits_above_a_better_scored_item_in_the_order() -> None:
    # Holds fill the red capacity: the random item is still red, but ranked by its own score,
    # below every yellow item that scores better.
    hits = _rule_hits(
        [("NLRTM-001", "LEGAL-1@1", 0.1, True), ("NLRTM-002", "LEGAL-2@1", 0.1, True)]
    )
    selection = _select(_scores(), hits, red_capacity=2, random_quota_share=0.5)
    ranked = selection.ranked.sort("rank")
    assert ranked.head(2)["selection_reason"].to_list() == ["rule", "rule"]
    rest = ranked.slice(2)
    assert rest["risk_score"].to_list() == sorted(rest["risk_score"].to_list(), reverse=True)
    random = rest.filter(pl.col("selection_reason") == "random")
    assert random.height == 1 and random["lane"].item() == "red"
    better = rest.filter(pl.col("risk_score") > random["risk_score"].item())
    assert (better["rank"] < random["rank"].item()).all()
    assert better.height == random["rank"].item() - 3


def test_a_declarations_other_items_rank_by_their_score_less_their_gap_to_its_best() -> None:
    # COVER-1's best item scores 0.99; its cover items ride on the shared route at 0.27 and 0.26.
    # LINES-1 declares two controlled lines that score 0.90 and 0.85 on their own goods. A lone
    # item elsewhere scores 0.15, ten more at most 0.009.
    quiet = _scores(10).with_columns(pl.col("risk_score") / 100)
    scores = _consignment(quiet, "COVER-1", [0.27, 0.99, 0.26])
    scores = _consignment(_consignment(scores, "LINES-1", [0.90, 0.85]), "LONE-1", [0.15])
    selection = _select(scores, red_capacity=4, yellow_capacity=3, random_quota_share=0)
    ranked = selection.ranked.sort("rank")
    top = list(zip(ranked["declaration_id"], ranked["item_no"], strict=True))
    # One examination covers COVER-1: its covers rank by 0.27 x (1 - 0.72) = 0.076 and
    # 0.26 x (1 - 0.73) = 0.070, below LONE-1. LINES-1's second line keeps 0.85 x 0.95 = 0.81
    # (a discount by the chance the first line holds nothing, 0.85 x 0.10, would drop it).
    assert top[:6] == [
        ("COVER-1", 2),
        ("LINES-1", 1),
        ("LINES-1", 2),
        ("LONE-1", 1),
        ("COVER-1", 1),
        ("COVER-1", 3),
    ]
    assert ranked.head(4)["lane"].to_list() == ["red"] * 4
    # The model's own score is what the list shows; only the order changes.
    covers = ranked.filter(pl.col("declaration_id") == "COVER-1").sort("rank")
    assert covers["risk_score"].to_list() == [0.99, 0.27, 0.26]
    # The reasons say why a cover sits below its own score, and which item covers it; the
    # declaration's best item and the lone item carry no such line.
    reasons = {
        (d, i): r for d, i, r in ranked.select("declaration_id", "item_no", "reasons").iter_rows()
    }
    assert "ranked after item 2 of its declaration" in reasons[("COVER-1", 1)]
    assert "ranked after item 2 of its declaration" in reasons[("COVER-1", 3)]
    assert "ranked after item 1 of its declaration" in reasons[("LINES-1", 2)]
    assert "ranked after" not in reasons[("COVER-1", 2)]
    assert "ranked after" not in reasons[("LONE-1", 1)]
