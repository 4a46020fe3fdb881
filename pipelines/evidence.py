"""Measured precision of rules and watch-list hits: how often inspections they led to found threats.

Grain of the statistics: one row per rule (`rule_id`) and one row per watch-list cell (hold,
entry type, match band), counting the inspected items the rule fired on (or the cell's hits
matched) and those with a CBRN or SALW finding. Only inspections recorded before the list's date
count, over declarations filed before it: nothing the night could not have known.

Precision is the mean of a Beta posterior: a prior centred on the configured belief (a rule's
`weight`, a watch-list cell's prior) worth `strength` inspections, updated with the counts. A new
or rarely inspected rule therefore starts at its weight and moves to its measured share as
inspections accumulate (docs/decisions/0020-ranking-measured-precision.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from contracts import threats
from features.rules import (
    DERIVED_BY_NAME,
    HITS_SCHEMA,
    Rule,
    evaluate_rules,
    rule_input,
    rules_valid_on,
)
from pipelines import layout
from pipelines.settings import Settings

KEY = ["declaration_id", "item_no"]
THREAT_CATEGORIES = threats.NAMES
"""Finding categories that count as a finding here: the threats risk_score estimates."""

EXACT_MATCH = 0.99
"""A watch-list hit scoring at least this is an `exact` match; below it, a `close` one."""

RULE_STATS_SCHEMA: dict[str, pl.DataType] = {
    "rule_id": pl.String(),
    "inspected": pl.Int64(),
    "findings": pl.Int64(),
}
"""Per rule: inspected items it fired on and how many had a finding (before the list's date)."""

WATCH_STATS_SCHEMA: dict[str, pl.DataType] = {
    "hold": pl.Boolean(),
    "entry_type": pl.String(),
    "band": pl.String(),
    "inspected": pl.Int64(),
    "findings": pl.Int64(),
}
"""Per watch-list cell: inspected items with a hit in the cell and how many had a finding."""

INSPECTED_SCHEMA: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "found": pl.Boolean(),
}


@dataclass(frozen=True)
class Evidence:
    """Counts measured on past inspections, for the rules and watch-list cells of one night."""

    rules: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RULE_STATS_SCHEMA))
    watchlist: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=WATCH_STATS_SCHEMA))
    inspected_items: int = 0
    """Inspected items the counts were measured on (0: priors only)."""
    since: date | None = None
    """First filing date the counts look at."""


def beta_mean(prior_mean: pl.Expr, strength: float, hits: pl.Expr, findings: pl.Expr) -> pl.Expr:
    """Posterior mean of a share under a Beta prior of the given mean worth `strength` trials."""
    return (prior_mean.clip(0.0, 1.0) * strength + findings) / (strength + hits)


def match_band(score: pl.Expr) -> pl.Expr:
    """`exact` or `close`: the strength band of a watch-list match score."""
    return pl.when(score >= EXACT_MATCH).then(pl.lit("exact")).otherwise(pl.lit("close"))


def inspected_items(outcomes: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """One row per inspected item of `items` (key columns): whether any inspection found a threat.

    An outcome without `item_no` covers every item of its declaration.
    """
    found = (pl.col("result") == "finding") & pl.col("finding_category").is_in(THREAT_CATEGORIES)
    flagged = outcomes.select("declaration_id", pl.col("item_no").cast(pl.Int64), found.alias("f"))
    keys = items.select(pl.col("declaration_id").cast(pl.String), pl.col("item_no").cast(pl.Int64))
    per_item = flagged.filter(pl.col("item_no").is_not_null())
    per_declaration = (
        flagged.filter(pl.col("item_no").is_null())
        .drop("item_no")
        .join(keys, on="declaration_id", how="inner")
        .select(per_item.columns)
    )
    return (
        pl.concat([per_item, per_declaration])
        .join(keys, on=KEY, how="semi")
        .group_by(KEY)
        .agg(pl.col("f").fill_null(False).any().alias("found"))
        .sort(KEY)
        .cast(INSPECTED_SCHEMA)  # type: ignore[arg-type]
    )


def rule_counts(hits: pl.DataFrame, inspected: pl.DataFrame) -> pl.DataFrame:
    """RULE_STATS_SCHEMA counts of rule hits (HITS_SCHEMA) over inspected items."""
    return (
        hits.select(*KEY, "rule_id")
        .unique()
        .join(inspected, on=KEY, how="inner")
        .group_by("rule_id")
        .agg(pl.len().cast(pl.Int64).alias("inspected"), pl.col("found").sum().alias("findings"))
        .sort("rule_id")
        .cast(RULE_STATS_SCHEMA)  # type: ignore[arg-type]
    )


def watch_counts(hits: pl.DataFrame, inspected: pl.DataFrame) -> pl.DataFrame:
    """WATCH_STATS_SCHEMA counts of watch-list hits over inspected items (an item counts once per
    cell, in its strongest band)."""
    entry_type = (
        pl.col("entry_type").fill_null("unknown") if "entry_type" in hits.columns else "unknown"
    )
    cells = hits.select(
        *KEY,
        pl.col("hold").fill_null(True),
        pl.lit(entry_type).alias("entry_type") if isinstance(entry_type, str) else entry_type,
        match_band(pl.col("score").fill_null(1.0)).alias("band"),
    ).unique()
    return (
        cells.join(inspected, on=KEY, how="inner")
        .group_by("hold", "entry_type", "band")
        .agg(pl.len().cast(pl.Int64).alias("inspected"), pl.col("found").sum().alias("findings"))
        .sort("hold", "entry_type", "band")
        .cast(WATCH_STATS_SCHEMA)  # type: ignore[arg-type]
    )


def _dated_partitions(table: Path, name: str, since: date, before: date) -> list[Path]:
    """`table/date=D/name` for since <= D < before, oldest first."""
    return [path for day, path in layout.partition_files(table, name) if since <= day < before]


def past_outcomes(settings: Settings, day: date, window_days: int) -> pl.DataFrame:
    """Inspections recorded before `day` (UTC midnight), at most `window_days` back."""
    since = day - timedelta(days=window_days)
    paths = _dated_partitions(layout.staged_outcomes(settings), layout.OUTCOMES_FILE, since, day)
    columns = ["declaration_id", "item_no", "inspected_at", "result", "finding_category"]
    if not paths:
        return pl.DataFrame(
            schema={
                "declaration_id": pl.String(),
                "item_no": pl.Int64(),
                "result": pl.String(),
                "finding_category": pl.String(),
            }
        )
    cutoff = datetime.combine(day, time(0), tzinfo=UTC)
    frames = [
        pl.read_parquet(path, columns=[c for c in columns if c in pl.read_parquet_schema(path)])
        for path in paths
    ]
    outcomes = pl.concat(
        [
            f.with_columns(
                *(pl.lit(None, dtype=pl.String).alias(c) for c in columns if c not in f.columns)
            ).select(columns)
            for f in frames
        ],
        how="vertical_relaxed",
    )
    inspected_at = pl.col("inspected_at")
    if outcomes.schema["inspected_at"] == pl.Datetime("us"):
        inspected_at = inspected_at.dt.replace_time_zone("UTC")
    # Partitions are by UTC date, but a stray timestamp must still not leak past the cutoff.
    return outcomes.filter(inspected_at.dt.convert_time_zone("UTC") < cutoff).select(
        "declaration_id",
        pl.col("item_no").cast(pl.Int64),
        "result",
        "finding_category",
    )


def measure_evidence(
    settings: Settings,
    day: date,
    rules: Sequence[Rule],
    window_days: int,
    screen: bool = True,
) -> Evidence:
    """Counts of the night's rules (and of watch-list cells) on inspections before `day`.

    Rules valid on `day` are evaluated again over the inspected items' declarations and features,
    so a new rule is measured on past traffic at once. The parties of the same items are screened
    against the lists in force (`screen`), so a weak list name an officer has inspected many times
    carries its record. Declarations and features are read only for the inspected items.
    """
    since = day - timedelta(days=window_days)
    outcomes = past_outcomes(settings, day, window_days)
    if outcomes.is_empty():
        return Evidence(since=since)
    ids = outcomes.select("declaration_id").unique().lazy()
    declaration_paths = _dated_partitions(
        layout.staged_declarations(settings), layout.DECLARATIONS_FILE, since, day
    )
    if not declaration_paths:
        return Evidence(since=since)
    active = rules_valid_on(rules, day)
    wanted = _wanted_columns(active, screen)
    scan = pl.scan_parquet(declaration_paths, missing_columns="insert", extra_columns="ignore")
    declarations = (
        # Only the columns rules and screening read: a year of declarations is large.
        scan.select([c for c in scan.collect_schema().names() if c in wanted])
        .join(ids, on="declaration_id", how="semi")
        .collect()
        .with_columns(pl.col("item_no").cast(pl.Int64))
        # An amendment filed on a later day reappears in a later partition: the latest wins.
        .unique(KEY, keep="last", maintain_order=True)
    )
    inspected = inspected_items(outcomes, declarations)
    rule_stats = pl.DataFrame(schema=RULE_STATS_SCHEMA)
    if active and not inspected.is_empty():
        feature_paths = _dated_partitions(
            layout.features_table(settings), layout.FEATURES_FILE, since, day
        )
        scan = pl.scan_parquet(feature_paths, missing_columns="insert", extra_columns="ignore")
        stored = set(declarations.columns) - set(KEY)
        features = (
            scan.select(
                [c for c in scan.collect_schema().names() if c in wanted and c not in stored]
            )
            .join(ids, on="declaration_id", how="semi")
            .collect()
            .with_columns(pl.col("item_no").cast(pl.Int64))
            .unique(KEY, keep="last", maintain_order=True)
            if feature_paths
            else declarations.select(KEY)
        )
        frame = rule_input(declarations.join(inspected.select(KEY), on=KEY, how="semi"), features)
        hits = (
            evaluate_rules(active, frame, day) if frame.height else pl.DataFrame(schema=HITS_SCHEMA)
        )
        rule_stats = rule_counts(hits, inspected)
    watch_stats = pl.DataFrame(schema=WATCH_STATS_SCHEMA)
    if screen and not inspected.is_empty():
        from pipelines.watchlists.screen import DECLARATION_COLUMNS, screen_declarations

        parties = declarations.join(inspected.select(KEY), on=KEY, how="semi")
        if all(c in parties.columns for c in DECLARATION_COLUMNS):
            hits = screen_declarations(
                parties.select(DECLARATION_COLUMNS), settings, settings.watchlist_threshold
            )
            watch_stats = watch_counts(hits, inspected)
    return Evidence(rule_stats, watch_stats, inspected.height, since)


def _wanted_columns(rules: Sequence[Rule], screen: bool) -> set[str]:
    """Columns the rules read (a derived field's inputs too) and, when screening, the parties."""
    wanted = set(KEY)
    for rule in rules:
        for name in rule.fields():
            wanted.add(name)
            derived = DERIVED_BY_NAME.get(name)
            if derived is not None:
                wanted.update(derived.needs)
    if screen:
        from pipelines.watchlists.screen import DECLARATION_COLUMNS

        wanted.update(DECLARATION_COLUMNS)
    return wanted
