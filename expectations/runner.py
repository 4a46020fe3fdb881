"""Run a `Suite` with Great Expectations 1.x on a frame and list every failing (row, check).

Grain of the result: one row per (frame row, failed check), identified by the frame's `_row`
column. GE runs on pandas (it does not accept Polars) in an ephemeral context. Every check is a
rule on one value (or a pair) of a row, so GE validates the distinct values of the columns each
check reads, one small batch per set of columns, and failing values map back to their rows in
Polars: the same verdicts at a fraction of the rows (docs/decisions/0013-validate-speed.md).
`great_expectations` is imported on use: it costs ~3-5 s.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from expectations.suite import Check, Suite

ROW = "_row"
VALUE = "_value"
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [VALUE],
    # The pandas query text repeats the index list and costs a filter of the whole batch.
    "return_unexpected_index_query": False,
}
FAILURE_SCHEMA = pl.Schema(
    {ROW: pl.Int64(), "field": pl.String(), "rule": pl.String(), "reason": pl.String()}
)
"""Failures: one row per (frame row, failed check)."""


GE_EXPECTATIONS = {
    "not_null": "ExpectColumnValuesToNotBeNull",
    "regex": "ExpectColumnValuesToMatchRegex",
    "in_set": "ExpectColumnValuesToBeInSet",
    "between": "ExpectColumnValuesToBeBetween",
    "lengths": "ExpectColumnValueLengthsToBeBetween",
    "true": "ExpectColumnValuesToBeInSet",
    "pair_at_least": "ExpectColumnPairValuesAToBeGreaterThanB",
}
"""Check kind -> the GE 1.x expectation class that checks it."""


def _expectation(check: Check, position: int) -> Any:
    import great_expectations.expectations as gxe

    # GE does not return results in suite order: `meta` ties each result to its check.
    kwargs: dict[str, Any] = {"column": check.column, **check.kwargs}
    if check.kind == "true":
        kwargs["value_set"] = [True]
    elif check.kind == "pair_at_least":
        kwargs = {
            "column_A": check.column,
            "column_B": check.kwargs["other"],
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
        }
    if check.kind == "regex":
        kwargs["regex"] = _without_groups(kwargs["regex"])
    kwargs["meta"] = {"check": position}
    # GE does not re-export its expectation classes for type checkers, hence getattr.
    return getattr(gxe, GE_EXPECTATIONS[check.kind])(**kwargs)


def _read_columns(check: Check) -> tuple[str, ...]:
    """The columns one check reads: its column, and the other one of a pair rule."""
    other = check.kwargs.get("other")
    return (check.column, other) if isinstance(other, str) else (check.column,)


def _input_columns(suite: Suite) -> list[str]:
    names: list[str] = [ROW]
    for check in suite.checks:
        names.extend(_read_columns(check))
    return list(dict.fromkeys(names))


def prepare(frame: pl.DataFrame, suite: Suite) -> pl.DataFrame:
    """The frame with `_row` and the suite's helper columns: exactly what GE will read."""
    if ROW not in frame.columns:
        frame = frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64()))
    return frame.with_columns(suite.helpers).select(_input_columns(suite))


def value_tables(checked: pl.DataFrame, suite: Suite) -> dict[tuple[str, ...], pl.DataFrame]:
    """One table per set of columns the checks read: its distinct values, numbered by `_value`.

    Grain: one row per distinct value (or pair of values) of those columns, null included.
    """
    groups = list(dict.fromkeys(_read_columns(check) for check in suite.checks))
    lazy = checked.lazy()
    # One collect for all: Polars finds the distinct values of every column in parallel.
    distinct = pl.collect_all(
        [lazy.select(columns).unique(maintain_order=True) for columns in groups]
    )
    return {
        columns: table.with_row_index(VALUE).with_columns(pl.col(VALUE).cast(pl.Int64()))
        for columns, table in zip(groups, distinct, strict=True)
    }


@dataclass
class Verdicts:
    """GE's verdicts on the values it has validated, kept across the chunks of one day.

    Every check is a rule on one value (or pair), so a value GE judged in an earlier chunk needs
    no second look: only values new to the day go to GE, and a set of columns whose values are
    all known costs no GE batch at all. A set is no longer remembered once it holds more than
    `max_values` values, or once most of a chunk's values are new to it (ids: nearly every value
    is new, so remembering them costs memory and saves nothing). Use one `Verdicts` with one
    suite: verdicts are filed by the check's position in it.
    """

    max_values: int = 1_000_000
    min_known_share: float = 0.2
    """A set whose chunk had fewer of its values known than this is dropped from memory."""
    known: dict[tuple[str, ...], pl.DataFrame] = field(default_factory=dict)
    """Columns -> their values validated so far, with one Boolean `_fails_<check>` per check."""
    too_many: set[tuple[str, ...]] = field(default_factory=set)
    batches: Any = None
    """The GE batch definition of the day, made by the first chunk that needs GE and reused."""

    def remember(
        self,
        columns: tuple[str, ...],
        fresh: pl.DataFrame,
        positions: list[int],
        found: dict[int, list[int]],
        *,
        seen: int,
    ) -> None:
        """File GE's verdicts on `fresh`, the values of a chunk's `seen` not known before
        (`found`: failing `_value` ids per check position)."""
        known = self.known.get(columns)
        if columns in self.too_many or fresh.height == 0:
            return
        held = known.height if known is not None else 0
        mostly_new = known is not None and 1 - fresh.height / seen < self.min_known_share
        if mostly_new or fresh.height + held > self.max_values:
            self.too_many.add(columns)
            self.known.pop(columns, None)
            return
        judged = fresh.select(
            *columns, *(pl.col(VALUE).is_in(found.get(i, [])).alias(_flag(i)) for i in positions)
        )
        self.known[columns] = judged if known is None else pl.concat([known, judged])


def run_suite(frame: pl.DataFrame, suite: Suite, verdicts: Verdicts | None = None) -> pl.DataFrame:
    """Validate `frame` (typed, with a unique Int64 `_row`) and return its failures.

    With `verdicts`, values judged before (an earlier chunk of the day) keep their verdicts and
    only new values are validated; the failures are the same as without.
    """
    checked = prepare(frame, suite)
    if checked.height == 0 or not suite.checks:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    tables = value_tables(checked, suite)
    batches = verdicts.batches if verdicts is not None else None
    failing: dict[int, list[int]] = {}
    for number, (columns, table) in enumerate(tables.items()):
        positions = [i for i, check in enumerate(suite.checks) if _read_columns(check) == columns]
        known = verdicts.known.get(columns) if verdicts is not None else None
        fresh = table
        if known is not None:
            fresh = table.join(
                known.select(columns), on=list(columns), how="anti", nulls_equal=True
            )
            remembered = table.join(known, on=list(columns), how="inner", nulls_equal=True)
            for position in positions:
                values = remembered.filter(pl.col(_flag(position)))[VALUE].to_list()
                failing.setdefault(position, []).extend(values)
        found: dict[int, list[int]] = {}
        if fresh.height:
            if batches is None:
                batches = _ge_batches(suite)
                if verdicts is not None:
                    verdicts.batches = batches
            found = _validate(suite, batches, fresh, positions, number=number)
        for position, values in found.items():
            failing.setdefault(position, []).extend(values)
        if verdicts is not None:
            verdicts.remember(columns, fresh, positions, found, seen=table.height)
    return _failures(suite, failing, checked, tables)


def _flag(position: int) -> str:
    return f"_fails_{position}"


def without_batch_fingerprints() -> None:
    """Stop Great Expectations hashing every pandas batch it is handed.

    GE 1.x's pandas engine stores, for each batch under 1 GB, an MD5 of
    `pandas.util.hash_pandas_object` over all its values as a batch marker
    (`pandas_data_fingerprint`). Nothing in this project reads it, and it is a pass over every
    value: 14 % of py-spy's samples of the validate stage at 10 M rows, about a fifth of Data
    Docs' CPU (decision 0047). The engine compares each batch's size with a module constant on
    every batch, so a threshold of 0 skips the hash; a test pins that the marker is gone.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def _ge_batches(suite: Suite) -> Any:
    """A batch definition for whole pandas frames in a fresh ephemeral GE context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        ProgressBarsConfig,
    )

    without_batch_fingerprints()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"{suite.name}-{uuid.uuid4().hex}"
    return (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe(name)
    )


def _validate(
    suite: Suite, batches: Any, table: pl.DataFrame, positions: list[int], *, number: int
) -> dict[int, list[int]]:
    """GE validates one table of distinct values with the checks at `positions`; returns the
    `_value` ids each failed check names."""
    import great_expectations as gx

    expectations = [_expectation(suite.checks[i], i) for i in positions]
    # The batch validates the suite directly: storing suites, validation definitions and
    # results in the context cost a fifth of GE's time a night, and nothing reads them.
    gx_suite = gx.ExpectationSuite(name=f"{batches.name}-{number}", expectations=expectations)
    batch = batches.get_batch(batch_parameters={"dataframe": table.to_pandas()})
    results = batch.validate(gx_suite, result_format=RESULT_FORMAT).results
    if len(results) != len(positions):
        raise RuntimeError(
            f"{suite.name}: GE returned {len(results)} results for {len(positions)} checks"
        )
    found: dict[int, list[int]] = {}
    for outcome in results:
        position = int(outcome.expectation_config.meta["check"])
        check = suite.checks[position]
        problem = _exception_message(outcome.exception_info)
        if problem is not None:
            raise RuntimeError(
                f"{suite.name}: check {check.field}/{check.rule} did not run: {problem}"
            )
        if outcome.success:
            continue
        values = [int(item[VALUE]) for item in outcome.result.get("unexpected_index_list") or []]
        if not values:
            # A failed check that names no value would silently let bad rows through.
            raise RuntimeError(f"{suite.name}: check {check.field}/{check.rule} failed on no row")
        found[position] = values
    return found


def _exception_message(info: Any) -> str | None:
    """The message of an exception GE caught while checking, else None.

    GE reports it either flat or per metric (a dict of such dicts), depending on where it arose.
    """
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        found = _exception_message(value)
        if found is not None:
            return found
    return None


def _without_groups(pattern: str) -> str:
    """The pattern with capture groups made non-capturing (pandas warns about groups)."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


def _failures(
    suite: Suite,
    failing: dict[int, list[int]],
    checked: pl.DataFrame,
    tables: dict[tuple[str, ...], pl.DataFrame],
) -> pl.DataFrame:
    """Rows holding the failing values of each check (`failing`: check -> `_value` ids)."""
    parts: list[pl.DataFrame] = []
    for position, values in sorted(failing.items()):
        if not values:
            continue
        check = suite.checks[position]
        columns = _read_columns(check)
        bad = tables[columns].filter(pl.col(VALUE).is_in(values)).drop(VALUE)
        rows = checked.select(ROW, *columns).join(
            bad, on=list(columns), how="semi", nulls_equal=True
        )
        parts.append(
            rows.select(
                ROW,
                pl.lit(check.field).alias("field"),
                pl.lit(check.rule).alias("rule"),
                pl.lit(check.reason).alias("reason"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    return pl.concat(parts).cast(FAILURE_SCHEMA).sort(ROW, "field", "rule")
