"""Contract validation of a call against reference sets cut down to the call's own values.

The declarations suite looks reference values up with `is_in` on a list literal of the whole
set (~115 k LOCODEs), and Polars hashes that literal on every evaluation: most of a one-row
validation. A value's key is in the full set exactly when it is in the full set cut down to the
keys the call carries, so the service builds the suite per call over those few keys (a set
intersection in Python) and runs the same checks (`expectations.declarations.declarations_suite`,
`expectations.polars_runner.run_suite_polars`) with the same verdicts.

Building that suite was still ~5 ms of a one-row call, so `CallSuites` keeps one suite whose sets
hold the known keys asked so far (calls of one trade ask about the same ports, countries and
headings again and again), rebuilds it only when a call brings a known key it lacks, and swaps only
the not-future helper, the one part of the suite that reads the clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.schema import Column
from expectations.declarations import NOT_FUTURE, declarations_suite, not_future_helper
from expectations.polars_runner import run_suite_polars
from expectations.suite import Suite, contract_suite, reference_key
from pipelines.assess.history_index import SMALL_QUERIES

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


REFERENCE_CONTRACT = dataclasses.replace(DECLARATIONS, columns=REFERENCED)
"""The declarations contract reduced to the columns whose checks read reference sets."""


def with_reference_sets(base: Suite, refs: Mapping[str, Collection[str]]) -> Suite:
    """`base` (a declarations suite) with the helper columns of its referenced columns rebuilt
    over `refs`: what `declarations_suite(refs, ...)` gives, for a fraction of its cost.

    The other helpers and every check read no reference set: the contract's rules build each
    column's helpers from that column and the sets alone (`expectations.suite.contract_suite`),
    so the referenced columns' helpers built over `refs` replace those of `base` by name.
    """
    rebuilt = {h.meta.output_name(): h for h in contract_suite(REFERENCE_CONTRACT, refs).helpers}
    helpers = tuple(rebuilt.get(h.meta.output_name(), h) for h in base.helpers)
    return Suite(base.name, helpers, base.checks)


KNOWN_KEPT = 20_000
"""Keys a suite's reference literals may hold before they start afresh: Polars hashes a literal on
every evaluation, ~20 k strings cost well under a millisecond a call."""
_BUILT_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""The clock of a kept suite; every call swaps in its own (`suite_at`)."""


class CallSuites:
    """`runner_for_call` with one suite kept per generation, its reference lookups rebuilt only
    when a call brings a known reference key they lack.

    A lookup `key in S` gives the full set's verdict for every key a call asks about whenever S
    is a part of the full set holding every known key the call asks about. The kept suite's
    sets are the known keys asked so far this generation (never an unknown one): a call whose
    known keys are all in them is validated by it as is; one that brings a new known key adds
    it, and only the reference lookups are rebuilt (`with_reference_sets`, ~0.5 ms). The
    ports, countries, currencies and headings of a trade recur, so the kept suite serves more
    and more calls whatever mix of keys they carry; the previous cache (one suite per exact
    cut) rarely served a single-declaration call.
    """

    def __init__(self, refs: Mapping[str, frozenset[str]], tolerance: timedelta) -> None:
        self._refs = refs
        self._tolerance = tolerance
        # The known keys and the suite built over them, swapped together (one reference).
        self._kept: tuple[dict[str, frozenset[str]], Suite] | None = None
        # Everything but the reference lookups, built once (empty sets: they are replaced).
        self._base = declarations_suite(
            {name: frozenset() for name in refs}, _BUILT_AT, self._tolerance
        )
        self.rebuilds = 0
        """Times the kept suite was built (for tests and the benchmark)."""

    def suite(self, typed: pl.DataFrame, now: datetime) -> Suite:
        """A suite with the verdicts `suite_for_call` gives for `typed` at `now`."""
        asked = {name: self._refs[name] & keys for name, keys in call_keys(typed).items()}
        kept = self._kept
        if kept is not None and all(keys <= kept[0].get(n, set()) for n, keys in asked.items()):
            return suite_at(kept[1], now, self._tolerance)
        known = {name: frozenset(keys) for name, keys in asked.items()}
        if kept is not None and sum(map(len, kept[0].values())) < KNOWN_KEPT:
            known = {name: kept[0].get(name, frozenset()) | keys for name, keys in known.items()}
        built = with_reference_sets(self._base, {**self._refs, **known})
        self._kept = (known, built)
        self.rebuilds += 1
        return suite_at(built, now, self._tolerance)

    def runner(self, now: datetime) -> Callable[[pl.DataFrame, Suite], pl.DataFrame]:
        """As `runner_for_call(refs, now, tolerance)`, from the kept suite."""

        def run(typed: pl.DataFrame, _: Suite) -> pl.DataFrame:
            # A call's few rows: the flag query planned as written (~0.35 ms less a call).
            return run_suite_polars(typed, self.suite(typed, now), SMALL_QUERIES)

        return run
