"""The Polars executor of the declarations suite gives Great Expectations' verdicts, row for row.

The pre-loading service validates each call in Polars (`expectations.polars_runner`) because a GE
validation costs about 100 ms a batch; the night validates with GE. Same suite, same failures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from contracts.declarations import DECLARATIONS
from contracts.reading import cast_to_contract, read_raw, records_frame
from expectations.declarations import declarations_suite
from expectations.polars_runner import run_suite_polars
from expectations.runner import run_suite
from pipelines.validate import validate_frame, validate_with_suite

DATA = Path(__file__).parent / "data" / "declarations"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
REFS = {
    "locode": {"CNSHA", "NLRTM", "SGSIN", "LKCMB", "FRCDG", "PLGDN", "DEHAM", "BEANR"},
    "hs6": {"847130", "841391", "610910", "940360", "870323"},
    "country": {"CN", "NL", "FR", "PL", "DE"},
    "currency": {"USD", "EUR", "CNY"},
}


def test_both_executors_reject_the_same_rows_for_the_same_reasons() -> None:
    raw = read_raw(DATA / "mixed.csv")
    suite = declarations_suite(REFS, NOW)
    night_valid, night_rejected = validate_frame(raw, REFS, NOW)
    fast_valid, fast_rejected = validate_with_suite(raw, suite, run_suite_polars)
    assert night_rejected.height > 5
    assert night_rejected["rule"].n_unique() > 5
    assert_frame_equal(fast_rejected, night_rejected)
    assert_frame_equal(fast_valid, night_valid)


def test_the_executors_agree_check_by_check_on_a_typed_frame() -> None:
    raw = read_raw(DATA / "mixed.csv").with_row_index("_row").cast({"_row": pl.Int64})
    typed, _ = cast_to_contract(raw, DECLARATIONS)
    suite = declarations_suite(REFS, NOW)
    failures = run_suite_polars(typed, suite)
    assert_frame_equal(failures, run_suite(typed, suite))
    # Rows that keep every rule: the Polars executor's early answer is GE's (nothing failed).
    kept = typed.filter(~pl.col("_row").is_in(failures["_row"].implode()))
    assert kept.height > 0
    assert_frame_equal(run_suite_polars(kept, suite), run_suite(kept, suite))
    assert run_suite_polars(kept, suite).is_empty()


def test_json_records_read_like_a_json_lines_file(tmp_path: Path) -> None:
    records = [
        {
            "declaration_id": "D1",
            "item_no": 1,
            "gross_mass_kg": 12.5,
            "transshipment_ports": ["SGSIN", "LKCMB"],
        },
        {"declaration_id": "D2", "item_no": 2, "gross_mass_kg": 3, "transshipment_ports": None},
    ]
    path = tmp_path / "rows.jsonl"
    import json

    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    from_file = read_raw(path).drop("_source_file")
    from_records = records_frame(records, str(path)).drop("_source_file")
    assert_frame_equal(from_records, from_file)
    assert from_records["transshipment_ports"].to_list() == ["SGSIN|LKCMB", None]


def test_reference_sets_cut_to_the_calls_values_give_the_same_verdicts() -> None:
    """The service validates against the reference sets cut down to the keys a call carries."""
    from pipelines.assess.validation import call_keys, runner_for_call

    raw = read_raw(DATA / "mixed.csv")
    refs = {name: frozenset(values) for name, values in REFS.items()}
    full_valid, full_rejected = validate_with_suite(
        raw, declarations_suite(refs, NOW), run_suite_polars
    )
    cut_valid, cut_rejected = validate_with_suite(
        raw, declarations_suite(refs, NOW), runner_for_call(refs, NOW, timedelta(days=1))
    )
    assert full_rejected.filter(pl.col("rule").str.starts_with("reference")).height >= 2
    assert_frame_equal(cut_rejected, full_rejected)
    assert_frame_equal(cut_valid, full_valid)
    # The cut sets hold only what the rows ask about (hs6 by its first six digits).
    typed, _ = cast_to_contract(raw.with_row_index("_row").cast({"_row": pl.Int64}), DECLARATIONS)
    asked = call_keys(typed)
    assert asked["hs6"] and all(len(key) <= 6 for key in asked["hs6"])
    assert asked["locode"] - REFS["locode"]


def test_kept_suites_give_the_verdicts_of_a_suite_built_per_call_at_each_clock() -> None:
    """`CallSuites` reuses a cut suite across calls and swaps the clock: same verdicts as the
    suite built afresh, including the not-future check at two different moments."""
    from pipelines.assess.validation import CallSuites, runner_for_call

    raw = read_raw(DATA / "mixed.csv")
    refs = {name: frozenset(values) for name, values in REFS.items()}
    tolerance = timedelta(days=1)
    suites = CallSuites(refs, tolerance)
    latest = raw.select(pl.col("filed_at").str.to_datetime(strict=False).max()).item()
    # One moment long before the filings (they are then in the future) and one after them.
    moments = [NOW, datetime(2000, 1, 2, tzinfo=UTC)]
    if latest is not None:
        moments.append(latest.replace(tzinfo=UTC) + timedelta(days=3))
    future_counts = set()
    for now in moments * 2:  # the second round is served from kept suites
        fresh = validate_with_suite(
            raw, declarations_suite(refs, now), runner_for_call(refs, now, tolerance)
        )
        kept = validate_with_suite(raw, declarations_suite(refs, now), suites.runner(now))
        assert_frame_equal(kept[0], fresh[0])
        assert_frame_equal(kept[1], fresh[1])
        future_counts.add(kept[1].filter(pl.col("field") == "filed_at").height)
    # The clock mattered: the filed_at verdicts differ between the moments.
    assert len(future_counts) > 1


def test_reference_lookups_rebuilt_alone_equal_the_whole_suite_built_over_those_sets() -> None:
    """`with_reference_sets` swaps only the referenced columns' helpers: the result is the suite
    `declarations_suite` builds over the same sets, expression for expression."""
    from pipelines.assess.validation import with_reference_sets

    refs = {name: frozenset(values) for name, values in REFS.items()}
    empty = {name: frozenset[str]() for name in REFS}
    base = declarations_suite(empty, NOW)
    built = with_reference_sets(base, refs)
    whole = declarations_suite(refs, NOW)
    assert built.checks == whole.checks
    assert [h.meta.output_name() for h in built.helpers] == [
        h.meta.output_name() for h in whole.helpers
    ]
    assert all(a.meta.eq(b) for a, b in zip(built.helpers, whole.helpers, strict=True))
    # The base differed exactly in the reference lookups (nine referenced columns).
    differ = [a for a, b in zip(base.helpers, whole.helpers, strict=True) if not a.meta.eq(b)]
    assert {h.meta.output_name() for h in differ} == {
        f"_{c.name}__reference" for c in DECLARATIONS.columns if c.reference
    }


def test_a_kept_suite_grown_over_many_calls_gives_each_call_the_full_sets_verdicts() -> None:
    """One row per call, as the service gets them: the kept suite, grown with each call's known
    keys and rebuilt only when one is new, rejects the rows the full reference sets reject."""
    from pipelines.assess.validation import CallSuites

    raw = read_raw(DATA / "mixed.csv")
    refs = {name: frozenset(values) for name, values in REFS.items()}
    suites = CallSuites(refs, timedelta(days=1))
    full = declarations_suite(refs, NOW)
    rejected_rows = 0
    for start in range(raw.height):
        call = raw.slice(start, 1)
        expected = validate_with_suite(call, full, run_suite_polars)
        kept = validate_with_suite(call, full, suites.runner(NOW))
        assert_frame_equal(kept[0], expected[0])
        assert_frame_equal(kept[1], expected[1])
        rejected_rows += expected[1].filter(pl.col("rule").str.starts_with("reference")).height
    assert rejected_rows >= 2
    # Most calls were served by the suite kept from earlier ones.
    assert suites.rebuilds < raw.height / 2


def test_kept_flag_expressions_give_the_failures_of_expressions_built_afresh() -> None:
    """The executor builds a check tuple's flag expressions once and keeps them by the tuple's
    identity; a kept tuple, a new tuple of other checks and an evicted tuple each get the
    failures of their own checks (Great Expectations' verdicts)."""
    import dataclasses

    from expectations.polars_runner import FLAGS_KEPT, KEPT_FLAGS, check_flags
    from expectations.suite import Suite

    raw = read_raw(DATA / "mixed.csv").with_row_index("_row").cast({"_row": pl.Int64})
    typed, _ = cast_to_contract(raw, DECLARATIONS)
    suite = declarations_suite(REFS, NOW)
    builds = KEPT_FLAGS.builds
    first = run_suite_polars(typed, suite)
    assert KEPT_FLAGS.builds == builds + 1
    again = run_suite_polars(typed, suite)
    assert KEPT_FLAGS.builds == builds + 1  # served from the kept expressions
    assert_frame_equal(again, first)
    kept = KEPT_FLAGS.flags(suite.checks)
    assert all(k.meta.eq(f) for k, f in zip(kept, check_flags(suite.checks), strict=True))
    # As many checks, one changed: a cache keyed by anything looser than the tuple would hand
    # this suite the kept expressions and miss the ids the new pattern refuses.
    stricter = tuple(
        dataclasses.replace(c, kwargs={"regex": r"^D-000[1-3]$"})
        if (c.field, c.rule) == ("declaration_id", "pattern")
        else c
        for c in suite.checks
    )
    changed = Suite(suite.name, suite.helpers, stricter)
    changed_failures = run_suite_polars(typed, changed)
    assert_frame_equal(changed_failures, run_suite(typed, changed))
    new_ids = changed_failures.filter(
        (pl.col("field") == "declaration_id") & (pl.col("rule") == "pattern")
    )
    assert new_ids.height > first.filter(pl.col("field") == "declaration_id").height
    # Evicted by other tuples and built again: still the suite's own failures.
    for _ in range(FLAGS_KEPT):
        run_suite_polars(typed, Suite(suite.name, suite.helpers, tuple(list(suite.checks))))
    assert_frame_equal(run_suite_polars(typed, suite), first)
    assert_frame_equal(first, run_suite(typed, suite))


def test_a_clean_frame_is_split_as_a_frame_with_broken_rows_is() -> None:
    """A frame whose rows keep every rule returns at once (no blame, filter or quarantine):
    its valid rows are those the full path keeps from the same rows beside broken ones, and
    its rejected frame is the full path's empty one."""
    raw = read_raw(DATA / "mixed.csv")
    suite = declarations_suite(REFS, NOW)
    valid, rejected = validate_with_suite(raw, suite, run_suite_polars)
    assert rejected.height > 0
    clean_lines = valid.get_column("_line").implode()
    clean_raw = raw.filter(pl.col("_line").is_in(clean_lines))
    clean_valid, clean_rejected = validate_with_suite(clean_raw, suite, run_suite_polars)
    assert clean_valid.height == valid.height > 0
    assert_frame_equal(clean_valid, valid)
    assert_frame_equal(clean_rejected, rejected.clear())
    night_valid, night_rejected = validate_frame(clean_raw, REFS, NOW)
    assert_frame_equal(night_valid, clean_valid)
    assert_frame_equal(night_rejected, clean_rejected)
