"""The KCS benchmark on the shipped 2,000 / 500-row samples and KCS-shaped files made from them:
the critical-fraud label and its recall, point-in-time features, the CLI's table, results and
scores files."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.reproduce import (
    BASELINE,
    CHOSEN,
    LABELS,
    KcsModels,
    KcsParams,
    category_codes,
    feature_names,
    kcs_features,
    labelled_rows,
    precision_at_rates,
    probabilities,
    read_kcs,
    report_table,
    run_kcs,
    train_labels,
)

KCS_DIR = Path(__file__).parent / "data" / "kcs"
TRAIN = KCS_DIR / "df_syn_train_eng_head2000.csv"
VALID = KCS_DIR / "df_syn_valid_eng_head500.csv"


def _rows(days: list[str], importers: list[str], fraud: list[int]) -> pl.DataFrame:
    """A few KCS rows already read, with only what the features use varying."""
    n = len(days)
    frame = read_kcs(TRAIN).head(n)
    return frame.with_columns(
        pl.Series("_day", [date.fromisoformat(d) for d in days]),
        pl.Series("consignee_id", importers),
        pl.Series("fraud", fraud, dtype=pl.Int8),
        pl.Series("critical_fraud", [0] * n, dtype=pl.Int8),
    )


def test_entity_rates_use_only_earlier_days() -> None:
    rows = _rows(
        ["2020-01-01", "2020-01-01", "2020-01-02", "2020-01-03"],
        ["A", "A", "A", "A"],
        [1, 1, 0, 0],
    )
    [featured] = kcs_features([rows], [True])
    seen = featured["importer_seen"].to_list()
    rate = featured["importer_fraud_rate"].to_list()
    # Same-day labels are not yet known: the first day sees nothing, day 2 sees both frauds.
    assert seen == [0, 0, 2, 3]
    assert rate[2] > rate[3] > 0
    assert rate[0] is None  # no base rate before the first day


def test_frozen_history_hides_evaluated_labels() -> None:
    train = _rows(["2020-01-01", "2020-01-02"], ["A", "B"], [0, 0])
    later = _rows(["2021-01-01", "2021-01-02"], ["C", "C"], [1, 1])
    _, frozen = kcs_features([train, later], [True, False])
    _, rolling = kcs_features([train, later], [True, True])
    assert frozen["importer_seen"].to_list() == [0, 0]
    assert rolling["importer_seen"].to_list() == [0, 1]
    assert rolling["importer_fraud_rate"][1] > frozen["importer_fraud_rate"][1]


def test_read_kcs_names_the_file_of_a_bad_layout(tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("Declaration ID,Date\n1,2020-01-01\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv"):
        read_kcs(bad)


def _recall_at(scores: list[float], labels: list[int], rate: float) -> float:
    """Recall in the top ceil(rate x rows), ties shared in proportion: written apart from
    models.evaluation to check it."""
    k = math.ceil(rate * len(scores) - 1e-9)
    threshold = sorted(scores, reverse=True)[k - 1]
    above = [y for s, y in zip(scores, labels, strict=True) if s > threshold]
    tied = [y for s, y in zip(scores, labels, strict=True) if s == threshold]
    found = sum(above) + sum(tied) * (k - len(above)) / len(tied)
    return found / sum(labels)


def test_critical_label_is_critical_fraud_two_only(tmp_path: Path) -> None:
    raw = pl.read_csv(TRAIN, infer_schema=False).head(6)
    # Fraud 1 with Critical Fraud 1 is an ordinary fraud; only Critical Fraud 2 is critical.
    made = raw.with_columns(
        pl.Series("Fraud", ["0", "1", "1", "1", "0", "1"]),
        pl.Series("Critical Fraud", ["0", "1", "2", "2", "0", "1"]),
    )
    path = tmp_path / "made.csv"
    made.write_csv(path)
    frame = read_kcs(path)
    assert frame["fraud"].to_list() == [0, 1, 1, 1, 0, 1]
    assert frame["critical_fraud"].to_list() == [0, 0, 1, 1, 0, 0]
    shipped = pl.read_csv(TRAIN, infer_schema=False)
    assert read_kcs(TRAIN)["critical_fraud"].sum() == (shipped["Critical Fraud"] == "2").sum()


def test_critical_recall_counts_the_top_rows_and_shares_ties() -> None:
    labels = np.zeros(200)
    labels[[0, 1, 2, 3]] = 1.0
    scores = np.linspace(1.0, 0.0, 200)
    scores[3] = 0.5  # one critical case far down the list
    scores[[10, 11]] = scores[1]  # two clean rows tied with a critical one
    figures = {rate: (k, recall) for rate, k, _, recall in precision_at_rates(scores, labels)}
    assert figures[0.01][0] == 2
    # Rank 1 is critical; rank 2 is one of three tied rows, one of them critical: 1 + 1/3.
    assert figures[0.01][1] == pytest.approx((1 + 1 / 3) / 4)
    assert figures[0.02][1] == pytest.approx(2 / 4)  # ranks 1-4: rows 0, 1, 10, 11
    assert figures[0.05][1] == pytest.approx(3 / 4)  # row 2 comes next, row 3 much later
    assert figures[0.10][1] == pytest.approx(3 / 4)
    for rate, (_, recall) in figures.items():
        assert recall == pytest.approx(
            _recall_at(scores.tolist(), labels.astype(int).tolist(), rate)
        )


def test_repeated_values_history_uses_only_earlier_days() -> None:
    rows = _rows(
        ["2020-01-01", "2020-01-01", "2020-01-02", "2020-01-03"],
        ["A", "B", "C", "D"],
        [1, 0, 0, 0],
    ).with_columns(
        pl.Series("declared_value", [123.45, 123.45, 123.45, 99.0]),
        pl.Series("critical_fraud", [1, 0, 0, 0], dtype=pl.Int8),
    )
    [featured] = kcs_features([rows], [True])
    seen = featured["value_seen"].to_list()
    rate = featured["value_critical_fraud_rate"].to_list()
    # The value came with a critical fraud on day 1: known from day 2 on, not the same day.
    assert seen == [0, 0, 2, 0]
    assert rate[0] is None
    assert rate[2] > rate[3] > 0


def test_run_kcs_measures_both_methods_and_scores_with_the_chosen_one() -> None:
    result = run_kcs(TRAIN, {"valid": VALID}, params=KcsParams(num_boost_round=60))
    assert set(result.precision["method"]) == {BASELINE, CHOSEN}
    assert "value_critical_fraud_rate" in result.feature_names[CHOSEN]
    assert "value_critical_fraud_rate" not in result.feature_names[BASELINE]
    labels = read_kcs(VALID)
    scores = result.scores["valid"].join(
        labels.select(pl.col("declaration_id").alias("Declaration ID"), "critical_fraud"),
        on="Declaration ID",
    )
    chosen = result.precision.filter(method=CHOSEN, label=LABELS["critical_fraud"])
    for row in chosen.iter_rows(named=True):
        assert row["recall"] == pytest.approx(
            _recall_at(
                scores["score_critical_fraud"].to_list(),
                scores["critical_fraud"].to_list(),
                row["rate"],
            )
        )
    assert result.positives["valid"][LABELS["critical_fraud"]] == labels["critical_fraud"].sum()
    table = report_table(result)
    assert table["file"][0].startswith("paper")
    assert table.filter(file="valid").height == 2 * len(LABELS)


def test_reproduce_verb_prints_the_table_and_writes_results_and_scores(tmp_path: Path) -> None:
    out, results = tmp_path / "scores.csv", tmp_path / "results.csv"
    # The test quarter is not shipped; any labelled KCS file stands in, by path.
    test = tmp_path / "test.csv"
    test.write_bytes(VALID.read_bytes())
    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "kcs",
            *("--train", str(TRAIN), "--valid", str(VALID), "--test", str(test)),
            *("--out", str(out), "--results", str(results)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "valid (" in result.output
    assert "test (" in result.output
    for label in LABELS.values():
        assert label in result.output
    for heading in ("P@5%", "R@1%", "R@2%", "R@5%", "PR-AUC", "plain LightGBM", "0.762"):
        assert heading in result.output
    table = pl.read_csv(results)
    assert table.filter(file="valid").height == table.filter(file="test").height == 4
    critical = table.filter(file="valid", method=CHOSEN, label=LABELS["critical_fraud"])
    assert critical["R@1%"][0] <= critical["R@2%"][0] <= critical["R@5%"][0]
    scores = pl.read_csv(out, schema_overrides={"Declaration ID": pl.String})
    assert scores.columns == ["Declaration ID", "score_fraud", "score_critical_fraud"]
    assert scores.height == 500
    assert scores["score_fraud"].is_between(0, 1).all()
    # A useful model ranks this sample's frauds above random (base rate 89 of 500).
    top = scores.join(
        read_kcs(VALID).select(pl.col("declaration_id").alias("Declaration ID"), "fraud"),
        on="Declaration ID",
    ).sort("score_fraud", descending=True)
    assert top.head(50)["fraud"].mean() > 89 / 500  # type: ignore[operator]
    fraud = table.filter(file="valid", method=CHOSEN, label=LABELS["fraud"])
    assert fraud["P@10%"][0] == pytest.approx(top.head(50)["fraud"].mean(), abs=0.02)


def test_careful_option_trains_on_the_point_in_time_features() -> None:
    careful = run_kcs(
        TRAIN,
        {"valid": VALID},
        careful=True,
        params=KcsParams(num_boost_round=50),
        baseline=False,
    )
    assert "importer_fraud_rate" in careful.feature_names[CHOSEN]
    figures = careful.precision.filter(label="Fraud")
    assert figures["precision"].is_between(0, 1).all()
    assert figures["rows"].to_list() == [500] * 4


def test_careful_features_extend_the_plain_ones() -> None:
    plain, careful = feature_names(False), feature_names(True)
    assert set(plain) < set(careful)
    assert "importer_declarant_fraud_rate" in careful
    repeats = feature_names(False, repeats=True)
    assert set(plain) < set(repeats)
    assert "tax_value_critical_fraud_rate" in repeats
    assert not set(repeats) & {"importer_fraud_rate", "hs6_price_z"}


def test_critical_head_given_fraud_learns_from_frauds_and_multiplies_by_p_fraud() -> None:
    [train, valid] = kcs_features([read_kcs(TRAIN), read_kcs(VALID)], [True, False])
    names = feature_names(False, repeats=True)
    codes = category_codes(train)
    rows, evaluated = labelled_rows(train, names, codes), labelled_rows(valid, names, codes)
    params = KcsParams(num_boost_round=40)
    given = train_labels(rows, names, params, "given-fraud")
    joint = train_labels(rows, names, params, "joint")
    assert given.critical_given_fraud
    assert not joint.critical_given_fraud
    # The fraud booster is the same either way; only the critical one changes.
    assert (
        given.models.categories["fraud"].booster.model_to_string()
        == joint.models.categories["fraud"].booster.model_to_string()
    )
    scores = probabilities(given, evaluated)
    alone = probabilities(KcsModels(given.models), evaluated)
    assert np.allclose(scores["critical_fraud"], scores["fraud"] * alone["critical_fraud"])
    # P(critical) = P(fraud) x P(critical | fraud) can never exceed P(fraud).
    assert (scores["critical_fraud"] <= scores["fraud"] + 1e-12).all()
    assert not np.allclose(
        scores["critical_fraud"], probabilities(joint, evaluated)["critical_fraud"]
    )


def test_reproduce_verb_refuses_an_unknown_history_and_a_missing_file(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["reproduce", "kcs", "--train", str(TRAIN), "--valid", str(VALID)]
    assert runner.invoke(app, [*base, "--careful", "--history", "later"]).exit_code == 2
    head = runner.invoke(app, [*base, "--critical-head", "both"])
    assert head.exit_code == 2
    assert "given-fraud" in head.output
    missing = runner.invoke(
        app, ["reproduce", "kcs", "--train", str(tmp_path / "no.csv"), "--valid", str(VALID)]
    )
    assert missing.exit_code == 1
    assert "no.csv" in missing.output
