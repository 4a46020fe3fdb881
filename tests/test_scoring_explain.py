"""Reasons only for the rows a port can inspect: which rows, and every red/yellow row has some."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.scoring import ExplainTop, score
from pipelines.select import SelectionPolicy, select_lanes
from tests.factories.hits import rule_hits, watch_hits
from tests.factories.model_world import make_world, trained_models


@cache
def _features() -> pl.DataFrame:
    return make_world(days=2, rows_per_day=3000, seed=12).features


def test_mask_takes_the_top_rows_per_group_with_ties() -> None:
    risk = np.array([0.9, 0.5, 0.5, 0.1, 0.8, 0.2, 0.3])
    groups = pl.Series(["A", "A", "A", "A", "B", "B", "B"])
    mask = ExplainTop(rows=2, share=0.0).mask(risk, groups)
    # A: 0.9 and both rows tied at 0.5; B: 0.8 and 0.3.
    assert mask.tolist() == [True, True, True, False, True, False, True]


def test_mask_share_wins_on_large_groups() -> None:
    risk = np.linspace(0, 1, 1000)
    assert ExplainTop(rows=1, share=0.05).mask(risk, None).sum() == 50
    assert ExplainTop(rows=100, share=0.05).mask(risk, None).sum() == 100


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        ExplainTop(rows=1, share=1.5)


def test_only_the_riskiest_rows_per_port_get_reasons_and_they_are_the_full_ones() -> None:
    models = trained_models()[0]
    features = _features()
    everyone = score(models, features, explain=None)
    some = score(models, features, explain=ExplainTop(rows=30, share=0.0))
    assert everyone["reasons"].null_count() == 0
    explained = some.filter(pl.col("reasons").is_not_null())
    ports = features["port_of_discharge"].n_unique()
    assert 30 * ports <= explained.height < 40 * ports
    # The explained rows are each port's riskiest, with the same words as when all are explained.
    top = some.with_columns(
        pl.col("risk_score").rank("min", descending=True).over("port_of_discharge").alias("r")
    )
    assert top.filter(pl.col("r") <= 30)["reasons"].null_count() == 0
    below = top.filter(pl.col("r") > 40)
    assert below["reasons"].null_count() == below.height
    same_rows = everyone.filter(some["reasons"].is_not_null())
    assert explained["reasons"].to_list() == same_rows["reasons"].to_list()
    for column in ("cbrn_score", "salw_score", "risk_score"):
        assert some[column].to_list() == everyone[column].to_list()


def test_every_red_and_yellow_row_has_reasons_after_selection() -> None:
    models = trained_models()[0]
    features = _features()
    scored = score(models, features, explain=ExplainTop(rows=40, share=0.0)).with_columns(
        pl.lit("v1").alias("model_version")
    )
    # A low-risk row forced red by a watch-list hit and one lifted by a rule stay explained.
    lowest = scored.sort("risk_score").head(2)
    watched, ruled = lowest.row(0, named=True), lowest.row(1, named=True)
    assert watched["reasons"] is None and ruled["reasons"] is None
    selection = select_lanes(
        scored,
        rule_hits([(ruled["declaration_id"], "R1", 5.0, False)]).with_columns(
            pl.lit(ruled["item_no"]).alias("item_no")
        ),
        watch_hits([watched["declaration_id"]]).with_columns(
            pl.lit(watched["item_no"]).alias("item_no")
        ),
        policy=SelectionPolicy(red_capacity=10, yellow_capacity=20, random_quota_share=0.2),
        day=date(2026, 1, 2),
        run_id="test",
    )
    listed = selection.ranked.filter(pl.col("lane") != "green")
    assert listed.height > 0
    assert listed["reasons"].null_count() == 0
    # Rows on the list by risk carry the model's reasons, not only the score in words.
    by_risk = listed.filter(pl.col("selection_reason") == "risk")
    assert by_risk.height > 0
    assert not by_risk["reasons"].str.starts_with("risk score").any()


def test_the_score_stage_explains_ten_times_the_largest_ports_capacity(tmp_path: Path) -> None:
    from pipelines.score import explain_top
    from pipelines.settings import load_settings

    default = explain_top(load_settings(environ={}, home=tmp_path))
    assert (default.rows, default.share) == (600, 0.0)  # 10 x (20 red + 40 yellow)
    wide = load_settings(
        environ={}, home=tmp_path, capacity_overrides={"NLRTM": (500, 300), "BEANR": (5, 5)}
    )
    assert explain_top(wide).rows == 8000
