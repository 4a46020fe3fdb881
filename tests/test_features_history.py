"""History: the incremental day-by-day state equals a from-scratch recomputation, and the stage
handles a first day, a gap, a rerun and a backfill."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.build import build_features
from features.history import (
    COUNT_COLUMNS,
    ENTITIES,
    Entity,
    HistoryState,
    advance,
    attribute_outcomes,
    empty_state,
    entity_keys,
    rollup_day,
    with_value_bins,
)
from pipelines.cli import _operator_error
from pipelines.featurize import SnapshotError, day_rollup, featurize_day, read_snapshot
from pipelines.io import write_parquet
from pipelines.layout import (
    features_file,
    partition_days,
    snapshot_dir,
    snapshots,
    staged_declarations_file,
    staged_outcomes_file,
)
from pipelines.pseudonym import load_key, pseudonymise
from pipelines.settings import Settings, load_settings
from tests.factories.feature_world import Partitions, refs, world

FIRST = date(2026, 2, 1)
DAYS = 8


def incremental(filed: Partitions, checked: Partitions, until: date) -> HistoryState:
    """Advance from an empty state one day at a time with the pure functions."""
    state = empty_state(FIRST)
    everything = pl.concat(filed.values())
    while state.as_of < until:
        day = state.as_of
        empty = filed[FIRST].clear()
        inspections = checked.get(day, pl.DataFrame(schema=checked[min(checked)].schema))
        credited = attribute_outcomes(
            inspections, everything.lazy().filter(pl.col("filed_at").dt.date() <= day)
        )
        state = advance(
            state, rollup_day(filed.get(day, empty), credited, day, refs().currency_rates)
        )
    return state


def from_scratch(filed: Partitions, checked: Partitions, until: date, entity: str) -> pl.DataFrame:
    """One SQL aggregate over every filing and inspection before `until` (DuckDB, not Polars)."""
    keys = {e.name: e.keys for e in ENTITIES}[entity]
    items = (
        entity_keys(pl.concat(filed.values()).lazy())
        .with_columns(pl.col("filed_at").dt.date().alias("filed_day"))
        .drop("filed_at", "expected_arrival")
        .collect()
    )
    inspections = (
        pl.concat(checked.values())
        .with_columns(pl.col("inspected_at").dt.date().alias("inspected_day"))
        .drop("inspected_at")
    )
    source = (
        "(SELECT *, unnest(transshipment_ports) AS hub FROM items)" if entity == "hub" else "items"
    )
    key_list = ", ".join(keys)
    joined = " AND ".join(f"f.{k} IS NOT DISTINCT FROM c.{k}" for k in keys)
    sql = f"""
        WITH src AS (SELECT * FROM {source}),
        credited AS (
            SELECT s.*, o.result, o.finding_category, o.inspected_day
            FROM inspections o JOIN src s
              ON s.declaration_id = o.declaration_id
             AND (o.item_no IS NULL OR o.item_no = s.item_no)
             AND s.filed_day <= o.inspected_day
            WHERE o.inspected_day < $until),
        f AS (
            SELECT {key_list}, min(filed_day) AS first_seen, max(filed_day) AS last_seen,
                   count(*) AS n_items
            FROM src WHERE filed_day < $until GROUP BY ALL),
        c AS (
            SELECT {key_list}, count(*) AS n_inspected,
                   count(*) FILTER (WHERE result = 'finding') AS n_findings,
                   count(*) FILTER (WHERE result = 'finding' AND finding_category = 'cbrn')
                       AS n_findings_cbrn,
                   count(*) FILTER (WHERE result = 'finding' AND finding_category = 'salw')
                       AS n_findings_salw
            FROM credited GROUP BY ALL)
        SELECT {", ".join(f"f.{k}" for k in keys)}, f.first_seen, f.last_seen, f.n_items,
               {", ".join(f"coalesce(c.{n}, 0) AS {n}" for n in COUNT_COLUMNS[1:])}
        FROM f LEFT JOIN c ON {joined}
        ORDER BY {key_list}
    """
    con = duckdb.connect()
    con.register("items", items)
    con.register("inspections", inspections)
    return con.sql(sql, params={"until": until}).pl()


def counts_from_scratch(filed: Partitions, until: date, keys: tuple[str, ...]) -> pl.DataFrame:
    """Items per key of every item filed before `until`, in one group-by (a value histogram
    when the keys hold `vpk_bin`: items without a usable value per kg are left out)."""
    items = with_value_bins(entity_keys(pl.concat(filed.values()).lazy()), refs().currency_rates)
    usable = pl.col("vpk_bin").is_not_null() if "vpk_bin" in keys else pl.lit(True)
    return (
        items.filter((pl.col("filed_at").dt.date() < until) & usable)
        .group_by(keys)
        .agg(pl.len().cast(pl.Int64).alias("n_items"))
        .sort(keys)
        .collect()
    )


@pytest.fixture(scope="module")
def small_world() -> tuple[Partitions, Partitions]:
    return world(FIRST, DAYS)


@pytest.fixture(scope="module")
def final_state(small_world: tuple[Partitions, Partitions]) -> HistoryState:
    filed, checked = small_world
    return incremental(filed, checked, FIRST + timedelta(days=DAYS))


@pytest.mark.parametrize("entity", [e.name for e in ENTITIES if e.with_outcomes])
def test_incremental_state_equals_a_recomputation(
    small_world: tuple[Partitions, Partitions], final_state: HistoryState, entity: str
) -> None:
    filed, checked = small_world
    until = FIRST + timedelta(days=DAYS)
    state = final_state
    expected = from_scratch(filed, checked, until, entity)
    assert expected.height > 0
    assert expected["n_inspected"].sum() > 0
    assert_frame_equal(state.table(entity), expected, check_dtypes=False)


@pytest.mark.parametrize(
    "entity", [e for e in ENTITIES if not e.with_outcomes], ids=lambda e: e.name
)
def test_incremental_item_counts_equal_a_recomputation(
    small_world: tuple[Partitions, Partitions], final_state: HistoryState, entity: Entity
) -> None:
    filed, _ = small_world
    until = FIRST + timedelta(days=DAYS)
    counts = final_state.table(entity.name).select(*entity.keys, "n_items")
    expected = counts_from_scratch(filed, until, entity.keys)
    assert expected.height > 0
    assert_frame_equal(counts, expected)


def test_findings_are_counted_by_threat(final_state: HistoryState) -> None:
    overall = final_state.table("global")
    assert overall["n_findings"].item() > 0
    assert overall["n_findings"].item() == (
        overall["n_findings_cbrn"].item() + overall["n_findings_salw"].item()
    )


# The stage, on a home folder of staged partitions.


def stage(tmp_path: Path, filed: Partitions, checked: Partitions) -> Settings:
    settings = load_settings(environ={}, home=tmp_path)
    for day, frame in filed.items():
        write_parquet(frame, staged_declarations_file(settings, day))
    for day, frame in checked.items():
        write_parquet(frame, staged_outcomes_file(settings, day))
    return settings


def pseudonymised(settings: Settings, filed: Partitions) -> Partitions:
    """The filings as history keeps them: trader ids under the home's key (decision 0027)."""
    key = load_key(settings, create=False)
    return {day: pseudonymise(frame, key) for day, frame in filed.items()}


def snapshot_table(settings: Settings, day: date, entity: str) -> pl.DataFrame:
    return pl.read_parquet(snapshot_dir(settings, day) / f"{entity}.parquet")


def test_stage_history_equals_a_recomputation(
    tmp_path: Path, small_world: tuple[Partitions, Partitions]
) -> None:
    filed, checked = small_world
    settings = stage(tmp_path, filed, checked)
    last = FIRST + timedelta(days=DAYS - 1)
    for offset in range(DAYS):
        featurize_day(settings, FIRST + timedelta(days=offset), refs=refs())
    hidden = pseudonymised(settings, filed)
    for entity in ("pair", "hub", "declarant"):
        assert_frame_equal(
            snapshot_table(settings, last, entity),
            from_scratch(hidden, checked, last, entity),
            check_dtypes=False,
        )
    features = pl.read_parquet(features_file(settings, last))
    assert features.height == filed[last].height


def test_first_day_has_empty_history(
    tmp_path: Path, small_world: tuple[Partitions, Partitions]
) -> None:
    filed, _ = small_world
    settings = stage(tmp_path, {FIRST: filed[FIRST]}, {})
    features = pl.read_parquet(featurize_day(settings, FIRST, refs=refs()))
    assert features["shipper_is_new"].all()
    assert features["shipper_n_items"].sum() == 0
    assert snapshot_table(settings, FIRST, "shipper").height == 0


def test_backfill_of_a_late_day_replays_every_earlier_day(
    tmp_path: Path, small_world: tuple[Partitions, Partitions]
) -> None:
    filed, checked = small_world
    settings = stage(tmp_path, filed, checked)
    last = FIRST + timedelta(days=DAYS - 1)
    # No snapshot yet: featurizing the last day builds history from the first staged day.
    featurize_day(settings, last, refs=refs())
    assert_frame_equal(
        snapshot_table(settings, last, "shipper"),
        from_scratch(pseudonymised(settings, filed), checked, last, "shipper"),
        check_dtypes=False,
    )
    assert snapshot_dir(settings, FIRST + timedelta(days=3)).is_dir()


def test_a_rerun_replaces_the_day_and_drops_later_snapshots(
    tmp_path: Path, small_world: tuple[Partitions, Partitions]
) -> None:
    filed, checked = small_world
    settings = stage(tmp_path, filed, checked)
    for offset in range(4):
        featurize_day(settings, FIRST + timedelta(days=offset), refs=refs())
    second = FIRST + timedelta(days=1)
    before = features_file(settings, second).read_bytes()
    featurize_day(settings, second, refs=refs())
    assert features_file(settings, second).read_bytes() == before
    assert not snapshot_dir(settings, FIRST + timedelta(days=2)).exists()
    assert snapshot_dir(settings, second).is_dir()


def test_snapshots_of_an_older_release_are_rebuilt_not_a_stopped_night(
    tmp_path: Path, small_world: tuple[Partitions, Partitions]
) -> None:
    """A release that adds a history entity finds snapshots without it: featurizing rebuilds the
    history from the staged days, and the features equal those made with it all along."""
    filed, checked = small_world
    settings = stage(tmp_path, filed, checked)
    last = FIRST + timedelta(days=5)
    for offset in range(6):
        featurize_day(settings, FIRST + timedelta(days=offset), refs=refs())
    made_with_it = pl.read_parquet(features_file(settings, last))
    assert made_with_it["value_per_kg_robust_z_hs2"].count() > 0
    # The snapshots as the release before the chapter price wrote them.
    for day in partition_days(snapshots(settings)):
        (snapshot_dir(settings, day) / "hs2_value.parquet").unlink()
    # A reader that only reads (the assessment service) stops with one line saying what to run.
    with pytest.raises(SnapshotError, match=rf"older release.*featurize run --date {last}"):
        read_snapshot(settings, last)
    assert _operator_error(SnapshotError("one line, no traceback, in the CLI"))
    featurize_day(settings, last, refs=refs())
    assert (snapshot_dir(settings, last) / "hs2_value.parquet").is_file()
    assert_frame_equal(pl.read_parquet(features_file(settings, last)), made_with_it)


def test_a_missing_day_counts_as_a_day_without_filings(
    tmp_path: Path, small_world: tuple[Partitions, Partitions], caplog: pytest.LogCaptureFixture
) -> None:
    filed, checked = small_world
    gap = FIRST + timedelta(days=2)
    kept = {d: f for d, f in filed.items() if d != gap}
    settings = stage(tmp_path, kept, checked)
    last = FIRST + timedelta(days=5)
    with caplog.at_level("WARNING"):
        featurize_day(settings, last, refs=refs())
    assert f"no declarations partition for {gap}" in caplog.text
    assert_frame_equal(
        snapshot_table(settings, last, "consignee"),
        from_scratch(pseudonymised(settings, kept), checked, last, "consignee"),
        check_dtypes=False,
    )


def test_a_day_without_staged_declarations_is_an_error(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    with pytest.raises(FileNotFoundError, match="no staged declarations for 2026-02-01"):
        featurize_day(settings, FIRST, refs=refs())


def test_inspections_older_than_the_lookback_are_not_credited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.factories.feature_world import declarations, outcomes

    first = date(2026, 3, 1)
    filed = {first + timedelta(days=k): declarations(first + timedelta(days=k), {}) for k in (0, 6)}
    inspected = first + timedelta(days=4)
    checked = {inspected: outcomes(inspected, {"result": "finding", "finding_category": "salw"})}
    night = first + timedelta(days=6)
    counts = {}
    for lookback in (2, 60):
        home = tmp_path / str(lookback)
        settings = stage(home, filed, checked)
        with caplog.at_level("INFO"):
            featurize_day(settings, night, refs=refs(), lookback_days=lookback)
        counts[lookback] = snapshot_table(settings, night, "global")["n_findings"].item()
    assert counts == {2: 0, 60: 1}
    assert "not filed in the 2 days before, not counted" in caplog.text


def test_outcomes_staged_with_their_filing_need_no_lookup(tmp_path: Path) -> None:
    from tests.factories.feature_world import declarations, outcomes

    first = date(2026, 3, 1)
    old = declarations(first, {"shipper_id": "OLD"})
    night = first + timedelta(days=6)
    inspected = first + timedelta(days=4)
    enriched = outcomes(
        inspected, {"item_no": 1, "result": "finding", "finding_category": "cbrn"}
    ).join(old.drop("item_no"), on="declaration_id")
    # With a lookback of 0 days the filing of day 1 cannot be found: only the outcome can tell.
    settings = stage(tmp_path, {first: old, night: declarations(night, {})}, {inspected: enriched})
    featurize_day(settings, night, refs=refs(), lookback_days=0)
    hidden = load_key(settings).pseudonym("OLD")
    shipper = snapshot_table(settings, night, "shipper").filter(pl.col("shipper_id") == hidden)
    assert shipper.select("n_inspected", "n_findings", "n_findings_cbrn").row(0) == (1, 1, 1)


def test_a_day_rolled_up_in_slices_counts_what_the_whole_day_counts(
    tmp_path: Path, small_world: tuple[Partitions, Partitions]
) -> None:
    """Advancing history reads a day in slices (memory); the counts must not depend on them."""
    filed, checked = small_world
    settings = stage(tmp_path, filed, checked)
    day = max(d for d, frame in checked.items() if d in filed and frame.height)
    rows = filed[day].height
    assert rows > 2 * 2
    whole = day_rollup(settings, day, refs(), slice_rows=rows)
    sliced = day_rollup(settings, day, refs(), slice_rows=2)
    assert list(sliced) == [e.name for e in ENTITIES]
    for entity in ENTITIES:
        assert_frame_equal(sliced[entity.name], whole[entity.name])
    assert whole["global"]["n_items"].item() == rows
    assert whole["global"]["n_inspected"].item() > 0


def test_each_item_built_alone_equals_its_row_of_the_day(final_state: HistoryState) -> None:
    """The service builds one declaration at a time with kept expressions and unoptimized plans;
    the night builds the whole day with optimized ones: each row must come out the same."""
    day = FIRST + timedelta(days=DAYS)
    day_rows = world(FIRST, DAYS + 1)[0][day]
    whole = build_features(day_rows, final_state, refs())
    assert whole.height == day_rows.height
    assert whole["hs6_value_history_n"].max(), "the history must reach the value features"
    for n in range(day_rows.height):
        alone = build_features(
            day_rows.slice(n, 1), final_state, refs(), optimizations=pl.QueryOptFlags.none()
        )
        assert_frame_equal(alone, whole.slice(n, 1))
    # A second build reuses every kept expression and gives the same frame.
    assert_frame_equal(build_features(day_rows, final_state, refs()), whole)
