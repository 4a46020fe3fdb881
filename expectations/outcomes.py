"""The inspection outcomes suite: the contract's column rules plus "a finding has a category".

Grain of the checks: one per (outcomes column, rule). That the declaration exists and was filed
before `inspected_at` needs staging, so it is checked where staging is read, not here.
"""

from __future__ import annotations

import polars as pl

from contracts.outcomes import OUTCOMES
from expectations.suite import Check, Suite, contract_suite, helper_name


def outcomes_suite() -> Suite:
    """Every rule of the outcomes contract that a single file can show."""
    has_category = helper_name("finding_category", "when_finding")
    helpers = (
        ~((pl.col("result") == "finding") & pl.col("finding_category").is_null())
        .fill_null(False)
        .alias(has_category),
    )
    checks = (
        Check(
            "finding_category",
            "required_when_finding",
            "required when result is finding",
            "true",
            has_category,
        ),
    )
    return contract_suite(OUTCOMES, {}).extended(helpers, checks)
