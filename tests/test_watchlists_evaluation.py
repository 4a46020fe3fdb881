from __future__ import annotations

import polars as pl
import pytest

from features.screening import DEFAULT_THRESHOLD, build_index
from pipelines.watchlists.entries import SHIPPED
from pipelines.watchlists.evaluation import (
    NEGATIVE_KINDS,
    POSITIVE_KINDS,
    build_evaluation_set,
    evaluate,
)
from pipelines.watchlists.un import load_un


@pytest.fixture(scope="module")
def entries() -> pl.DataFrame:
    return load_un(SHIPPED / "un_sc_consolidated_2024-09-26.xml").entries


def test_evaluation_set_is_deterministic_and_labelled(entries: pl.DataFrame) -> None:
    first = build_evaluation_set(entries, seed=7, per_kind=20)
    assert first.equals(build_evaluation_set(entries, seed=7, per_kind=20))
    assert not first.equals(build_evaluation_set(entries, seed=8, per_kind=20))
    assert set(first.get_column("kind")) == set(POSITIVE_KINDS) | set(NEGATIVE_KINDS)
    variants = first.filter("is_match")
    assert variants.get_column("entry_id").null_count() == 0
    assert (variants.get_column("name") != variants.get_column("source_name")).all()
    assert first.filter(~pl.col("is_match")).get_column("entry_id").null_count() == 20 * len(
        NEGATIVE_KINDS
    )


def test_evaluation_reports_a_usable_curve(entries: pl.DataFrame) -> None:
    evaluation_set = build_evaluation_set(entries, seed=7, per_kind=20)
    result = evaluate(evaluation_set, build_index(entries), [0.8, DEFAULT_THRESHOLD, 0.98], 0.6)
    curve = {row["threshold"]: row for row in result.curve.iter_rows(named=True)}
    # Raising the threshold never finds more.
    assert curve[0.8]["recall"] >= curve[DEFAULT_THRESHOLD]["recall"] >= curve[0.98]["recall"]
    assert curve[DEFAULT_THRESHOLD]["recall"] > 0.9
    assert curve[DEFAULT_THRESHOLD]["precision"] > 0.9
    george = result.by_kind.filter(pl.col("kind") == "given_name_other_surname").row(0, named=True)
    assert george["false_hit_rate"] < 0.1
