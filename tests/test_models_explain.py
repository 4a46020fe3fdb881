from __future__ import annotations

import numpy as np

from models.explain import format_value, phrase, top_reasons

NAMES = ("consignee_age_days", "value_ratio", "is_new", "route_km")
PHRASES = {
    "consignee_age_days": "consignee first seen {value} days ago",
    "value_ratio": "value per kg {value:.0f}x below the HS median",
    "is_new": "new consignee, never seen before",
    "route_km": "{value:,.0f} km from loading to discharge port",
}


def test_top_reasons_are_the_largest_positive_contributions_in_order() -> None:
    contributions = np.array(
        [
            [0.2, 1.5, 0.0, 0.7, -3.0],  # last column: LightGBM's bias
            [-0.1, -0.2, 0.0, -0.3, 1.0],
        ]
    )
    values = np.array([[3.0, 40.2, 0.0, 12345.0], [900.0, 1.0, 0.0, 10.0]])
    reasons = top_reasons(contributions, values, NAMES, PHRASES)
    assert reasons == [
        "value per kg 40x below the HS median; "
        "12,345 km from loading to discharge port; "
        "consignee first seen 3 days ago",
        "",
    ]


def test_an_unset_flag_is_never_given_as_a_reason() -> None:
    # is_new = 0 pushed the score up, but "new consignee" would be false for this row.
    contributions = np.array([[0.1, 0.0, 2.0, 0.0], [0.1, 0.0, 2.0, 0.0]])
    values = np.array([[30.0, 1.0, 0.0, 5.0], [30.0, 1.0, 1.0, 5.0]])
    reasons = top_reasons(contributions, values, NAMES, PHRASES, top_n=2)
    assert reasons == [
        "consignee first seen 30 days ago",
        "new consignee, never seen before; consignee first seen 30 days ago",
    ]


def test_missing_values_and_unknown_phrases_still_read() -> None:
    assert phrase(PHRASES["consignee_age_days"], "consignee_age_days", float("nan")) == (
        "consignee_age_days not known"
    )
    assert phrase(None, "mystery", 0.123456) == "mystery = 0.123"
    assert phrase("bad {template", "broken", 2.0) == "broken = 2"


def test_values_read_without_trailing_zeros() -> None:
    assert format_value(3.0) == 3
    assert format_value(0.0004567) == 0.000457
    assert format_value(1234.5678) == 1230.0


def test_a_log10_feature_is_phrased_in_its_own_unit() -> None:
    from models.explain import phrase

    assert phrase("gross mass about {exp10:,.0f} kg", "mass", 3.0) == "gross mass about 1,000 kg"
