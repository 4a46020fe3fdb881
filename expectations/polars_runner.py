"""Run a `Suite` in Polars alone: the same checks and verdicts as `expectations.runner`, in
microseconds per row instead of Great Expectations' fixed ~100 ms a batch.

The pre-loading service (pipelines/assess) validates one declaration per call and must answer in
milliseconds, so it cannot start a GE validation per call. It runs the very same `Suite` (the
checks built from the contract) through this executor; tests/test_assess_validation.py holds the
two executors to identical failures on valid and broken rows. Like GE, every check but
`not_null` ignores null values.

Grain of the result: one row per (frame row, failed check), FAILURE_SCHEMA of the GE runner.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import polars as pl

from expectations.runner import FAILURE_SCHEMA, ROW
from expectations.suite import Check, Suite


def _fails(check: Check) -> pl.Expr:
    """True where a row breaks `check` (null where the check does not apply)."""
    value = pl.col(check.column)
    kwargs = check.kwargs
    match check.kind:
        case "not_null":
            return value.is_null()
        case "regex":
            return ~value.cast(pl.String).str.contains(str(kwargs["regex"]))
        case "in_set":
            return ~value.is_in(pl.lit(pl.Series(list(kwargs["value_set"])).implode()))
        case "between":
            return _outside(value, kwargs)
        case "lengths":
            return _outside(value.cast(pl.String).str.len_chars(), kwargs)
        case "true":
            return value != pl.lit(True)
        case "pair_at_least":
            other = pl.col(str(kwargs["other"]))
            return pl.when(other.is_null()).then(None).otherwise(value < other)
    raise ValueError(f"{check.field}/{check.rule}: no Polars executor for kind {check.kind!r}")


def _outside(value: pl.Expr, kwargs: object) -> pl.Expr:
    assert isinstance(kwargs, dict) or hasattr(kwargs, "get")
    low = kwargs.get("min_value")
    high = kwargs.get("max_value")
    below = pl.lit(False)
    above = pl.lit(False)
    if low is not None:
        below = value <= low if kwargs.get("strict_min") else value < low
    if high is not None:
        above = value >= high if kwargs.get("strict_max") else value > high
    return pl.when(value.is_null()).then(None).otherwise(below | above)


FLAGS_KEPT = 8
"""Check tuples whose flag expressions are kept: the service's one generation (every call hands
it the same tuple), with room for the suites of a few nights or tests besides."""


class _KeptFlags:
    """The flag expressions of a check tuple, built once per tuple object.

    Building the ~60 expressions in Python cost ~0.7 ms of a one-row call (docs/decisions/0032,
    pass 5). Keyed by the tuple's identity, with the tuple itself held beside its expressions: an
    id cannot be reused while its object lives, and a `Check` is frozen (its `kwargs` are never
    changed after the suite is built), so a tuple's expressions never go stale. A check's
    `kwargs` is a dict, so the tuple has no hash: identity is the key it has.
    """

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._by_id: OrderedDict[int, tuple[tuple[Check, ...], tuple[pl.Expr, ...]]] = OrderedDict()
        self.builds = 0
        """Times a tuple's expressions were built (for tests)."""

    def flags(self, checks: tuple[Check, ...]) -> tuple[pl.Expr, ...]:
        """One Boolean column a check, named by its position, True where a row breaks it."""
        with self._lock:
            found = self._by_id.get(id(checks))
            if found is not None and found[0] is checks:
                self._by_id.move_to_end(id(checks))
                return found[1]
        built = check_flags(checks)
        with self._lock:
            self._by_id[id(checks)] = (checks, built)
            self._by_id.move_to_end(id(checks))
            while len(self._by_id) > self._kept:
                self._by_id.popitem(last=False)
            self.builds += 1
        return built


def check_flags(checks: tuple[Check, ...]) -> tuple[pl.Expr, ...]:
    """The flag expressions of `checks`, built afresh (what `KEPT_FLAGS` keeps)."""
    return tuple(_fails(check).fill_null(False).alias(str(i)) for i, check in enumerate(checks))


KEPT_FLAGS = _KeptFlags(FLAGS_KEPT)


def run_suite_polars(
    frame: pl.DataFrame, suite: Suite, optimizations: pl.QueryOptFlags | None = None
) -> pl.DataFrame:
    """Validate `frame` (typed, with a unique Int64 `_row`) and return its failures.

    `optimizations` plans the flag query (default: Polars' own); optimizing changes how the
    query runs, never its result, and the service's one-row calls skip it (cheaper to run as
    written)."""
    if frame.height == 0 or not suite.checks:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    if ROW not in frame.columns:
        frame = frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64()))
    # `prepare` and every check's flag in one query (its column selection is a projection the
    # flags make anyway).
    flags = (
        frame.lazy()
        .with_columns(suite.helpers)
        .select(ROW, *KEPT_FLAGS.flags(suite.checks))
        .collect(optimizations=pl.QueryOptFlags() if optimizations is None else optimizations)
    )
    if not flags.drop(ROW).to_numpy().any():
        # The usual call: every row keeps every rule.
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    # One long frame of the failing (row, check) pairs: a valid call costs one pass, not one
    # filter per check.
    failing = (
        flags.unpivot(index=ROW, variable_name="_check", value_name="_failed")
        .filter(pl.col("_failed"))
        .select(ROW, pl.col("_check").cast(pl.Int64))
    )
    if failing.height == 0:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    catalogue = pl.DataFrame(
        {
            "_check": list(range(len(suite.checks))),
            "field": [c.field for c in suite.checks],
            "rule": [c.rule for c in suite.checks],
            "reason": [c.reason for c in suite.checks],
        },
        schema={
            "_check": pl.Int64(),
            "field": pl.String(),
            "rule": pl.String(),
            "reason": pl.String(),
        },
    )
    return (
        failing.join(catalogue, on="_check", how="left")
        .select(FAILURE_SCHEMA.names())
        .cast(FAILURE_SCHEMA)
        .sort(ROW, "field", "rule")
    )
