"""The KCS benchmark on the shipped 2,000 / 500-row samples: features, CLI, scores file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.reproduce import LABELS, KcsParams, feature_names, kcs_features, read_kcs, run_kcs

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


def test_reproduce_verb_prints_precision_and_writes_scores(tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    # The test quarter is not shipped; any labelled KCS file stands in, by path.
    test = tmp_path / "test.csv"
    test.write_bytes(VALID.read_bytes())
    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "kcs",
            *("--train", str(TRAIN), "--valid", str(VALID), "--test", str(test)),
            *("--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "valid (" in result.output
    assert "test (" in result.output
    for label in LABELS.values():
        assert label in result.output
    assert "P@5% 0." in result.output
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


def test_careful_option_trains_on_the_point_in_time_features() -> None:
    careful = run_kcs(TRAIN, {"valid": VALID}, careful=True, params=KcsParams(num_boost_round=50))
    assert "importer_fraud_rate" in careful.feature_names
    figures = careful.precision.filter(label="Fraud")
    assert figures["precision"].is_between(0, 1).all()
    assert figures["rows"].to_list() == [500] * 4


def test_careful_features_extend_the_plain_ones() -> None:
    plain, careful = feature_names(False), feature_names(True)
    assert set(plain) < set(careful)
    assert "importer_declarant_fraud_rate" in careful


def test_reproduce_verb_refuses_an_unknown_history_and_a_missing_file(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["reproduce", "kcs", "--train", str(TRAIN), "--valid", str(VALID)]
    assert runner.invoke(app, [*base, "--careful", "--history", "later"]).exit_code == 2
    missing = runner.invoke(
        app, ["reproduce", "kcs", "--train", str(tmp_path / "no.csv"), "--valid", str(VALID)]
    )
    assert missing.exit_code == 1
    assert "no.csv" in missing.output
