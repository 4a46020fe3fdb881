"""Reasons an inspector reads, from LightGBM's per-row contributions (`pred_contrib=True`).

Grain: one reasons string per scored row: the features that pushed that row's score up the
most, each phrased with its registry template and the row's own value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from contracts.wording import Readable

REASON_SEPARATOR = "; "


def format_value(value: float) -> int | float:
    """A feature value as a reader wants it: whole numbers without '.0', others to 3 digits."""
    if value == int(value) and abs(value) < 1e15:
        return int(value)
    return float(f"{value:.3g}")


def is_flag(template: str | None) -> bool:
    """A template without `{value}` states a yes/no fact that is only true when the value is."""
    return template is not None and "{value" not in template


def _exp10(value: float) -> float:
    return 10.0**value if value < 300 else math.inf


def phrase(template: str | None, name: str, value: float) -> str:
    """One reason: the template filled with the value, or `name = value` when none fits."""
    if math.isnan(value):
        # A template reads wrong without its number ("first seen nan days ago").
        return f"{name} not known"
    if template:
        # A template with a format spec ({value:.0f}) gets the exact value; a bare {value}
        # gets it trimmed, so "3 days" does not read "3.0 days".
        shown = Readable(value) if "{value:" in template else format_value(value)
        try:
            # {exp10} undoes a log10 feature: "gross mass about {exp10:,.0f} kg".
            return template.format(value=shown, exp10=_exp10(value))
        except (ValueError, KeyError, IndexError):
            pass  # a template that does not take this value still deserves a readable reason
    return f"{name} = {format_value(value)}"


def top_reasons(
    contributions: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    feature_names: Sequence[str],
    phrases: Mapping[str, str],
    top_n: int = 3,
) -> list[str]:
    """Per row, the `top_n` features with the largest positive contribution, in words.

    `contributions` is (rows, features) or (rows, features + 1) with LightGBM's bias column
    last; `values` is (rows, features). Only contributions above zero count as reasons, and a
    flag (a phrase without a value) only when it is set: "new consignee" must not be given as
    a reason for an old one whose flag pushed the score up by being 0.
    """
    n_features = len(feature_names)
    contrib = contributions[:, :n_features]
    if contrib.shape != values.shape:
        raise ValueError(f"contributions {contrib.shape} and values {values.shape} differ")
    if contrib.shape[0] == 0:
        return []
    templates = [phrases.get(name) for name in feature_names]
    flags = np.array([is_flag(t) for t in templates], dtype=bool)
    unset = flags[np.newaxis, :] & ~(np.nan_to_num(values, nan=0.0) != 0)
    eligible = np.where((contrib > 0) & ~unset, contrib, 0.0)
    k = min(top_n, n_features)
    # Stable sort on the negated contribution: ties go to the earlier feature, every run alike.
    order = np.argsort(-eligible, axis=1, kind="stable")[:, :k]
    reasons: list[str] = []
    for row, columns in enumerate(order):
        parts = [
            phrase(templates[col], feature_names[col], float(values[row, col]))
            for col in columns
            if eligible[row, col] > 0
        ]
        reasons.append(REASON_SEPARATOR.join(parts))
    return reasons
