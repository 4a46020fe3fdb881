"""Featurize stage: advance the point-in-time history to a day and write that day's features.

Grain of what it writes: `features/date=D/features.parquet` holds one row per declaration item
filed on D; `history/snapshots/date=D/<entity>.parquet` holds one row per entity key with its
state as known before D (every day < D). Reading a day costs one snapshot plus one day's rollup.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from contracts import reference
from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from features.build import build_features
from features.history import (
    ATTRIBUTION_COLUMNS,
    ENTITIES,
    HistoryState,
    advance,
    attribute_outcomes,
    empty_state,
    merge_rollups,
    rollup_day,
    state_schema,
)
from features.refs import References
from pipelines import layout
from pipelines.io import atomic_directory, write_parquet, write_text
from pipelines.pseudonym import load_key, pseudonymise
from pipelines.settings import Settings

log = logging.getLogger(__name__)

OUTCOME_LOOKBACK_DAYS = 60
"""Inspections are credited to items filed at most this many days before them (see ADR 0006)."""
KEEP_SNAPSHOTS_DAYS = 35
"""Snapshots older than this before the newest are pruned; an older rerun rebuilds from staging."""


def load_references(settings: Settings) -> References:
    """The reference tables features need, from `contracts.reference`."""
    return References(
        locations=reference.locations(),
        hs6=reference.hs6(),
        strategic_hs=reference.strategic_hs(),
        currency_rates=reference.currency_rates(settings.currency_rates),
    )


def _read_declarations(path: Path, offset: int = 0, length: int | None = None) -> pl.DataFrame:
    """The staged declarations of `path` (rows `offset` on, `length` of them), contract types."""
    try:
        scan = pl.scan_parquet(path)
        present = scan.collect_schema().names()
    except Exception as exc:
        raise ValueError(f"{path}: cannot read declarations partition ({exc})") from exc
    missing = [c for c in DECLARATIONS.names if c not in present]
    if missing:
        raise ValueError(f"{path}: missing declaration column(s) {', '.join(missing)}")
    try:
        return (
            scan.slice(offset, length)
            .select([pl.col(c).cast(t) for c, t in DECLARATIONS.polars_schema.items()])
            .collect()
        )
    except Exception as exc:
        raise ValueError(f"{path}: cannot read declarations partition ({exc})") from exc


def _read_outcomes(path: Path) -> pl.DataFrame:
    """Staged inspections in contract types (plus the filing's columns when staging added them)."""
    if not path.exists():
        return OUTCOMES.empty_frame()
    frame = pl.read_parquet(path)
    missing = [c for c in OUTCOMES.required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing outcome column(s) {', '.join(missing)}")
    columns = [
        (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in OUTCOMES.polars_schema.items()
    ]
    if _already_credited(frame):
        columns += [
            pl.col(c).cast(DECLARATIONS.polars_schema[c])
            for c in ATTRIBUTION_COLUMNS
            if c not in OUTCOMES.polars_schema
        ]
    return frame.select(columns)


def _already_credited(outcomes: pl.DataFrame) -> bool:
    """Staging may store each inspected item with its filing's columns: no lookup needed then."""
    return set(ATTRIBUTION_COLUMNS) <= set(outcomes.columns) and (
        outcomes.get_column("item_no").null_count() == 0
    )


ROLLUP_ROWS = 250_000
"""A day's filings are rolled up this many rows at a time and the counts summed: advancing
history holds one slice of the day, not the day (the counts are the same either way)."""


def day_rollup(
    settings: Settings,
    day: date,
    refs: References,
    lookback_days: int = OUTCOME_LOOKBACK_DAYS,
    slice_rows: int = ROLLUP_ROWS,
) -> dict[str, pl.DataFrame]:
    """What `day` adds to history: its filed items and its inspections, credited to items.

    A missing declarations partition is a gap: it counts as a day with no filings (logged).
    Staged outcomes that already carry the filing's `ATTRIBUTION_COLUMNS` (one row per inspected
    item) are credited as they are; others are looked up in the last `lookback_days` of filings.
    """
    outcomes = _read_outcomes(layout.staged_outcomes_file(settings, day))
    if _already_credited(outcomes):
        credited = outcomes.select(*ATTRIBUTION_COLUMNS, "result", "finding_category")
    else:
        candidates = _attribution_items(settings, day, outcomes, lookback_days)
        credited = attribute_outcomes(outcomes, candidates)
        unknown = outcomes.join(credited.select("declaration_id"), on="declaration_id", how="anti")
        if unknown.height:
            log.info(
                "%s: %d inspection(s) of declarations not filed in the %d days before, not counted",
                day,
                unknown.height,
                lookback_days,
            )
    filed_path = layout.staged_declarations_file(settings, day)
    if not filed_path.exists():
        log.warning("history gap: no declarations partition for %s, counted as empty", day)
        return _rollup_pseudonymised(settings, DECLARATIONS.empty_frame(), credited, day, refs)
    try:
        rows = pl.scan_parquet(filed_path).select(pl.len()).collect().item()
    except Exception as exc:
        raise ValueError(f"{filed_path}: cannot read declarations partition ({exc})") from exc
    rollups = [
        _rollup_pseudonymised(
            settings,
            _read_declarations(filed_path, offset, slice_rows),
            credited if offset == 0 else credited.clear(),
            day,
            refs,
        )
        for offset in range(0, max(rows, 1), slice_rows)
    ]
    return rollups[0] if len(rollups) == 1 else merge_rollups(rollups)


def _rollup_pseudonymised(
    settings: Settings, filed: pl.DataFrame, credited: pl.DataFrame, day: date, refs: References
) -> dict[str, pl.DataFrame]:
    """History is kept on trader pseudonyms, never on the ids in clear (decision 0027)."""
    key = load_key(settings)
    return rollup_day(
        pseudonymise(filed, key), pseudonymise(credited, key), day, refs.currency_rates
    )


def _attribution_items(
    settings: Settings, day: date, outcomes: pl.DataFrame, lookback_days: int
) -> pl.LazyFrame:
    """Items an inspection on `day` may refer to: filings of the lookback window, up to `day`."""
    empty = DECLARATIONS.empty_frame().lazy().select(ATTRIBUTION_COLUMNS)
    if outcomes.is_empty():
        return empty
    paths = [
        p
        for k in range(lookback_days + 1)
        if (p := layout.staged_declarations_file(settings, day - timedelta(days=k))).exists()
    ]
    if not paths:
        return empty
    wanted = outcomes.get_column("declaration_id").unique().implode()
    # A filter (not a semi-join) is pushed into the Parquet scan: other columns are decoded
    # only where an inspected declaration is.
    return (
        pl.scan_parquet(paths)
        .select(ATTRIBUTION_COLUMNS)
        .filter(pl.col("declaration_id").is_in(wanted))
    )


SNAPSHOT_KEY_FILE = "pseudonym_key.txt"
"""In each snapshot: the marker of the pseudonym key its trader keys were made with."""


class SnapshotError(ValueError):
    """A stored history snapshot this release cannot read: it lacks an entity (an older release
    wrote it). Featurizing rebuilds such snapshots; readers that only read stop with this."""


def read_snapshot(settings: Settings, day: date) -> HistoryState:
    """The stored state as known before `day`."""
    folder = layout.snapshot_dir(settings, day)
    tables = {}
    for entity in ENTITIES:
        path = folder / f"{entity.name}.parquet"
        if not path.exists():
            raise SnapshotError(
                f"{folder}: snapshot lacks {entity.name}.parquet (written by an older release); "
                f"the next night rebuilds the history, or run `cargo-risk featurize run --date "
                f"{day}`"
            )
        tables[entity.name] = pl.read_parquet(path).select(
            [pl.col(c).cast(t) for c, t in state_schema(entity).items()]
        )
    return HistoryState(day, tables)


def write_snapshot(settings: Settings, state: HistoryState) -> Path:
    """Store a state whole (atomically: all entities or none)."""
    target = layout.snapshot_dir(settings, state.as_of)
    with atomic_directory(target) as tmp:
        for entity in ENTITIES:
            state.table(entity.name).write_parquet(
                tmp / f"{entity.name}.parquet", compression="zstd", statistics=True
            )
        write_text(load_key(settings).marker + "\n", tmp / SNAPSHOT_KEY_FILE)
    return target


def _snapshot_key_matches(settings: Settings, day: date, marker: str) -> bool:
    path = layout.snapshot_dir(settings, day) / SNAPSHOT_KEY_FILE
    return path.is_file() and path.read_text(encoding="utf-8").strip() == marker


def _snapshot_complete(settings: Settings, day: date) -> bool:
    folder = layout.snapshot_dir(settings, day)
    return all((folder / f"{entity.name}.parquet").is_file() for entity in ENTITIES)


def drop_snapshots_after(settings: Settings, day: date) -> list[date]:
    """Delete snapshots of dates after `day` (they were built from the old version of `day`)."""
    folder = layout.snapshots(settings)
    dropped = [d for d in layout.partition_days(folder) if d > day]
    for d in dropped:
        shutil.rmtree(layout.snapshot_dir(settings, d))
    return dropped


def _prune_snapshots(settings: Settings, newest: date, keep_days: int) -> None:
    folder = layout.snapshots(settings)
    for d in layout.partition_days(folder):
        if d < newest - timedelta(days=keep_days):
            shutil.rmtree(layout.snapshot_dir(settings, d))


def history_before(
    settings: Settings,
    day: date,
    refs: References,
    lookback_days: int = OUTCOME_LOOKBACK_DAYS,
    keep_days: int = KEEP_SNAPSHOTS_DAYS,
) -> HistoryState:
    """State as known before `day`: the newest stored snapshot <= `day`, advanced day by day.

    With no snapshot, history starts empty on the first staged filing day (a backfill reads
    every day once, in order). Each state passed on the way is stored.
    """
    marker = load_key(settings).marker
    stored = [d for d in layout.partition_days(layout.snapshots(settings)) if d <= day]
    # History keyed with another pseudonym key (rotated, or none) would join nothing, and a
    # snapshot written before an entity existed (an older release) lacks it: both are rebuilt.
    stale = [
        d
        for d in stored
        if not _snapshot_key_matches(settings, d, marker) or not _snapshot_complete(settings, d)
    ]
    for d in stale:
        shutil.rmtree(layout.snapshot_dir(settings, d))
    if stale:
        log.info(
            "dropped %d history snapshot(s) made with another pseudonym key or by an older "
            "release; history is rebuilt from the staged days",
            len(stale),
        )
    stored = [d for d in stored if d not in stale]
    if stored:
        state = read_snapshot(settings, stored[-1])
    else:
        staged = layout.partition_days(layout.staged_declarations(settings))
        start = min([d for d in staged if d < day], default=day)
        state = empty_state(start)
        write_snapshot(settings, state)
    while state.as_of < day:
        state = advance(state, day_rollup(settings, state.as_of, refs, lookback_days))
        write_snapshot(settings, state)
    _prune_snapshots(settings, day, keep_days)
    return state


def featurize_day(
    settings: Settings,
    day: date,
    *,
    refs: References | None = None,
    lookback_days: int = OUTCOME_LOOKBACK_DAYS,
) -> Path:
    """Write `features/date=D/features.parquet` for the items filed on `day`; return its path.

    A rerun replaces the partition and drops history snapshots after `day`, which were derived
    from the previous version of the day; later days rebuild them when they are featurized.
    """
    started = time.perf_counter()
    source = layout.staged_declarations_file(settings, day)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no staged declarations for {day}; run validate first")
    refs = refs if refs is not None else load_references(settings)
    dropped = drop_snapshots_after(settings, day)
    if dropped:
        log.info("rerun of %s: dropped %d later history snapshot(s)", day, len(dropped))
    state = history_before(settings, day, refs, lookback_days)
    declarations = pseudonymise(_read_declarations(source), load_key(settings))
    frame = build_features(declarations, state, refs)
    target = layout.features_file(settings, day)
    with atomic_directory(target.parent) as tmp:
        write_parquet(frame, tmp / target.name)
    log.info("featurized %s: %d rows in %.2f s", day, frame.height, time.perf_counter() - started)
    return target
