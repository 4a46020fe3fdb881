"""Contract validation of a call against reference sets cut down to the call's own values.

The declarations suite looks reference values up with `is_in` on a list literal of the whole
set (~115 k LOCODEs), and Polars hashes that literal on every evaluation: most of a one-row
validation. A value's key is in the full set exactly when it is in the full set cut down to the
keys the call carries, so the service builds the suite per call over those few keys (a set
intersection in Python) and runs the same checks (`expectations.declarations.declarations_suite`,
`expectations.polars_runner.run_suite_polars`) with the same verdicts.

Building that suite was still ~5 ms of a one-row call, so `CallSuites` keeps the suites of recent
cut sets (calls of one trade ask about the same ports, countries and headings again and again) and
swaps only the not-future helper, the one part of the suite that reads the clock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.schema import Column
from expectations.declarations import NOT_FUTURE, declarations_suite, not_future_helper
from expectations.polars_runner import run_suite_polars
from expectations.suite import Suite, reference_key

REFERENCED: tuple[Column, ...] = tuple(c for c in DECLARATIONS.columns if c.reference)
"""Contract columns whose values are looked up in a reference set."""


def call_keys(typed: pl.DataFrame) -> dict[str, set[str]]:
    """The reference keys each reference set is asked about by the rows of `typed`."""
    asked: dict[str, set[str]] = {}
    selects: list[pl.Expr] = []
    names: list[str] = []
    for column in REFERENCED:
        if column.name not in typed.columns:
            continue
        value = pl.col(column.name)
        if column.kind == "list":
            value = value.explode()
        key = reference_key(column, value.cast(pl.String))
        selects.append(key.drop_nulls().unique().implode().alias(column.name))
        names.append(column.name)
    found = typed.select(selects).row(0, named=True) if selects and typed.height else {}
    for column in REFERENCED:
        assert column.reference is not None
        asked.setdefault(column.reference, set()).update(found.get(column.name) or ())
    return asked


def suite_for_call(
    typed: pl.DataFrame,
    refs: Mapping[str, frozenset[str]],
    now: datetime,
    tolerance: timedelta,
) -> Suite:
    """The declarations suite at `now`, its reference sets cut down to the keys of `typed`."""
    cut = {name: refs[name] & keys for name, keys in call_keys(typed).items()}
    return declarations_suite({**refs, **cut}, now, tolerance)


def runner_for_call(
    refs: Mapping[str, frozenset[str]], now: datetime, tolerance: timedelta
) -> Callable[[pl.DataFrame, Suite], pl.DataFrame]:
    """A suite runner for `pipelines.validate.validate_with_suite` that ignores the suite it is
    handed and runs the one cut down to the typed frame it sees."""

    def run(typed: pl.DataFrame, _: Suite) -> pl.DataFrame:
        return run_suite_polars(typed, suite_for_call(typed, refs, now, tolerance))

    return run


def suite_at(base: Suite, now: datetime, tolerance: timedelta) -> Suite:
    """`base` with its not-future check taken at `now` (the rest of the suite is clock-free)."""
    helpers = tuple(
        not_future_helper(now, tolerance) if h.meta.output_name() == NOT_FUTURE else h
        for h in base.helpers
    )
    return Suite(base.name, helpers, base.checks)


CutSets = tuple[tuple[str, frozenset[str]], ...]
"""Each reference set's name and its values a call asks about, in name order (hashable)."""
SUITES_KEPT = 4096
"""Cut suites kept per generation: a suite is a few dozen expressions, a few MB for all."""
_BUILT_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""The clock of a cached suite; every call swaps in its own (`suite_at`)."""


class CallSuites:
    """`runner_for_call` with the cut suites kept (least recently used dropped) per generation."""

    def __init__(self, refs: Mapping[str, frozenset[str]], tolerance: timedelta) -> None:
        self._refs = refs
        self._tolerance = tolerance
        self._built: Callable[[CutSets], Suite] = functools.lru_cache(maxsize=SUITES_KEPT)(
            self._build
        )

    def _build(self, cut: CutSets) -> Suite:
        return declarations_suite({**self._refs, **dict(cut)}, _BUILT_AT, self._tolerance)

    def suite(self, typed: pl.DataFrame, now: datetime) -> Suite:
        """The suite `suite_for_call` builds for `typed` at `now`."""
        cut = tuple(
            sorted(
                (name, frozenset(self._refs[name] & keys))
                for name, keys in call_keys(typed).items()
            )
        )
        return suite_at(self._built(cut), now, self._tolerance)

    def runner(self, now: datetime) -> Callable[[pl.DataFrame, Suite], pl.DataFrame]:
        """As `runner_for_call(refs, now, tolerance)`, from kept suites."""

        def run(typed: pl.DataFrame, _: Suite) -> pl.DataFrame:
            return run_suite_polars(typed, self.suite(typed, now))

        return run
