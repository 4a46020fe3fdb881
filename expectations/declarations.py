"""The declarations suite: the contract's column rules plus its cross-field rules.

Grain of the checks: one per (declarations column, rule). `now` is passed in, never read from the
clock, so a run (and its test) is reproducible.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

import polars as pl

from contracts.declarations import CONTAINER_PATTERN, DECLARATIONS, EARLIEST_FILING
from expectations.iso6346 import container_number_valid
from expectations.suite import Check, Suite, contract_suite, helper_name

NOT_FUTURE = helper_name("filed_at", "not_future")


def not_future_helper(
    now: datetime, future_tolerance: timedelta = timedelta(days=1), *, arrived: str | None = None
) -> pl.Expr:
    """The helper column of the not-future check: the only part of the suite that reads `now`
    (a long-running service swaps it per call instead of rebuilding the whole suite)."""
    clock = pl.lit(now).dt.convert_time_zone("UTC")
    if arrived is not None:
        clock = pl.col(arrived).dt.convert_time_zone("UTC").fill_null(clock)
    latest_allowed = clock + pl.lit(future_tolerance)
    return (pl.col("filed_at") <= latest_allowed).fill_null(True).alias(NOT_FUTURE)


def declarations_suite(
    refs: Mapping[str, Collection[str]],
    now: datetime,
    future_tolerance: timedelta = timedelta(days=1),
    *,
    arrived: str | None = None,
) -> Suite:
    """Every rule of the declarations contract, checked against `refs` and the moment `now`.

    `refs` holds the sets "locode", "hs6", "country" and "currency" (convertible ones). When
    `arrived` names a timestamp column (raw's `_ingested_at`), each row's `filed_at` is checked
    against the moment that row arrived rather than `now`: a row filed in the future stays
    refused when its date's night comes.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    check_digit = helper_name("container_ids", "check_digit")
    earliest_arrival = helper_name("expected_arrival", "earliest")
    not_ancient = helper_name("filed_at", "plausible")
    helpers = (
        pl.col("container_ids")
        .list.eval(
            container_number_valid(pl.element()) | ~pl.element().str.contains(CONTAINER_PATTERN)
        )
        .list.all()
        .fill_null(True)
        .alias(check_digit),
        (pl.col("filed_at").dt.date() - pl.duration(days=1)).alias(earliest_arrival),
        not_future_helper(now, future_tolerance, arrived=arrived),
        (pl.col("filed_at") >= pl.lit(EARLIEST_FILING).dt.convert_time_zone("UTC"))
        .fill_null(True)
        .alias(not_ancient),
    )
    days = future_tolerance / timedelta(days=1)
    checks = (
        Check(
            "container_ids",
            "iso6346_check_digit",
            "an ISO 6346 check digit is wrong",
            "true",
            check_digit,
        ),
        Check(
            "expected_arrival",
            "not_before_filing",
            "before the filed_at date minus 1 day",
            "pair_at_least",
            "expected_arrival",
            {"other": earliest_arrival},
        ),
        Check(
            "filed_at",
            "not_future",
            f"more than {days:g} day(s) in the future",
            "true",
            NOT_FUTURE,
        ),
        Check(
            "filed_at",
            "plausible",
            f"before {EARLIEST_FILING.date().isoformat()}: not a plausible filing date",
            "true",
            not_ancient,
        ),
    )
    return contract_suite(DECLARATIONS, refs).extended(helpers, checks)
