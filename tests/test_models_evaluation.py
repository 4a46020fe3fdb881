from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.evaluation import auc, average_precision, evaluate, expected_found, inspected_count


def test_expected_found_counts_ties_as_a_fair_draw() -> None:
    scores = [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]
    labels = [0, 1, 0, 0, 0, 1]
    assert expected_found(scores, labels, 1) == 0.0
    # Three of the four tied rows are inspected: 3/4 of the one finding among them.
    assert expected_found(scores, labels, 4) == pytest.approx(0.75)
    assert expected_found(scores, labels, 6) == 2.0
    assert expected_found([np.nan, 1.0], [1, 0], 1) == 0.0


def test_inspected_count_rounds_up() -> None:
    assert inspected_count(150, 0.01) == 2
    assert inspected_count(100, 0.01) == 1
    assert inspected_count(3, 0.5) == 2


def test_auc_and_average_precision() -> None:
    assert auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert auc([0.5, 0.5], [1, 0]) == 0.5
    assert np.isnan(auc([1.0, 2.0], [0, 0]))
    assert average_precision([0.9, 0.8, 0.7], [0, 1, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "port_of_discharge": ["A"] * 4 + ["B"] * 4,
            "truth_cbrn": [1, 0, 0, 0, 0, 0, 0, 1],
            "model_cbrn": [0.9, 0.1, 0.2, 0.3, 0.8, 0.7, 0.6, 0.5],
            "rules": [1.0] * 8,
        }
    )


def test_evaluate_reports_methods_scopes_and_a_random_baseline() -> None:
    result = evaluate(
        _frame(),
        {"cbrn": "truth_cbrn"},
        {"model": {"cbrn": "model_cbrn"}, "rules": {"cbrn": "rules"}},
        rates=(0.25,),
    )
    rows = {(r["method"], r["scope"]): r for r in result.to_dicts()}
    # Overall, the top 2 of 8 are 0.9 (a finding) and 0.8 (none).
    assert rows[("model", "overall")]["recall"] == 0.5
    assert rows[("model", "overall")]["precision"] == 0.5
    # Per port, each inspects its top 1: A finds its threat, B does not.
    assert rows[("model", "A")]["found"] == 1
    assert rows[("model", "B")]["found"] == 0
    assert rows[("model", "per_port")]["recall"] == 0.5
    # All-equal rules scores are a fair draw: recall equals the inspection rate.
    assert rows[("rules", "overall")]["recall"] == pytest.approx(0.25)
    assert rows[("random", "overall")]["recall"] == pytest.approx(0.25)
    assert rows[("random", "overall")]["precision"] == pytest.approx(2 / 8)
    assert set(result["scope"]) == {"overall", "A", "B", "per_port"}
