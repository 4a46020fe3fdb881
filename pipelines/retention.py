"""Retention: remove the date partitions that are past their time, keep what is still needed.

Each table (zone/table, `Settings.retention_days`) keeps its date partitions for a number of days
counted back from the clock (`as_of`, a parameter so tests and backfills can set it). A partition
past its time is still kept when:

- **an open case needs it**: a list of that date selected an item (red or yellow lane) for which
  no outcome has been staged yet (an outcome without item_no closes every item of its
  declaration). The case is open until the inspector records a result or a waiver; the date's
  partitions are held in every table an inspector or an appeal would need (raw, staging,
  features, scores, lists, reports);
- **a model's training set needs it**: the date lies within the training window
  (`training_dates.first` to `trained_until` in metadata.json) of the champion or of one of the
  `retention_model_versions` newest versions, in a table training or evaluation reads (staged
  declarations and outcomes, features);
- it is the newest partition of its table (the next night builds on it).

A removal is atomic per partition: the folder is renamed to a hidden name (readers then see the
whole partition or none), the removals are recorded in the audit log in one transaction, and only
then are the folders deleted. If the audit cannot be written the folders are renamed back.
Leftovers of a crash between rename and delete are swept on the next run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from pipelines import layout
from pipelines.settings import RETENTION_DAYS, Settings

REMOVING_PREFIX = ".retention-removing-"


@dataclass(frozen=True)
class Table:
    """One kind of data under retention: where its partitions live and what may hold them."""

    key: str
    folder: Callable[[Settings], Path]
    kind: str
    held_by_cases: bool
    held_by_training: bool


TABLES: tuple[Table, ...] = (
    Table(
        "raw/declarations",
        layout.raw_declarations,
        "declarations as received",
        held_by_cases=True,
        held_by_training=False,
    ),
    Table(
        "quarantine/declarations",
        layout.quarantine_declarations,
        "rejected rows with reasons",
        held_by_cases=False,
        held_by_training=False,
    ),
    Table(
        "staging/declarations",
        layout.staged_declarations,
        "validated declarations",
        held_by_cases=True,
        held_by_training=True,
    ),
    Table(
        "staging/outcomes",
        layout.staged_outcomes,
        "inspection results",
        held_by_cases=False,
        held_by_training=True,
    ),
    Table(
        "history/snapshots",
        layout.snapshots,
        "trader and route history",
        held_by_cases=False,
        held_by_training=False,
    ),
    Table(
        "features",
        layout.features_table,
        "model inputs",
        held_by_cases=True,
        held_by_training=True,
    ),
    Table(
        "scores",
        layout.scores_table,
        "scores, rule and watch-list hits",
        held_by_cases=True,
        held_by_training=False,
    ),
    Table(
        "lists",
        layout.lists_table,
        "published ranked lists",
        held_by_cases=True,
        held_by_training=False,
    ),
    Table(
        "reports/runs",
        layout.run_reports,
        "run and disparity reports",
        held_by_cases=True,
        held_by_training=False,
    ),
)


def retention_limits(settings: Settings) -> dict[str, int]:
    """Days kept per table: the defaults, overridden by the settings; unknown keys refused."""
    unknown = sorted(set(settings.retention_days) - set(RETENTION_DAYS))
    if unknown:
        raise ValueError(
            f"retention_days: unknown table(s) {', '.join(unknown)}; "
            f"known: {', '.join(RETENTION_DAYS)}"
        )
    bad = sorted(k for k, v in settings.retention_days.items() if v < 1)
    if bad:
        raise ValueError(f"retention_days: must be at least 1 day for {', '.join(bad)}")
    return {**RETENTION_DAYS, **settings.retention_days}


@dataclass(frozen=True)
class Decision:
    """One partition examined: removed (or would be), or kept and why."""

    table: str
    day: date
    path: Path
    remove: bool
    reason: str


@dataclass
class RetentionPlan:
    """Every expired partition, and what holds those kept."""

    as_of: date
    decisions: list[Decision] = field(default_factory=list)

    @property
    def removals(self) -> list[Decision]:
        return [d for d in self.decisions if d.remove]

    def summary(self) -> dict[str, Any]:
        """Per table: partitions to remove and partitions held, with the reasons."""
        tables: dict[str, dict[str, Any]] = {}
        for d in self.decisions:
            entry = tables.setdefault(d.table, {"remove": [], "held": {}})
            if d.remove:
                entry["remove"].append(d.day.isoformat())
            else:
                entry["held"].setdefault(d.reason, []).append(d.day.isoformat())
        return {"as_of": self.as_of.isoformat(), "tables": tables}


def training_days(settings: Settings) -> set[date]:
    """Dates inside the training windows of the champion and the newest model versions."""
    from models.registry import read_metadata, version_folders
    from pipelines.lifecycle import current_champion, models_root

    root = models_root(settings)
    folders = version_folders(root)
    kept = folders[-settings.retention_model_versions :]
    champion = current_champion(settings)
    if champion is not None and (root / champion).is_dir():
        kept.append(root / champion)
    days: set[date] = set()
    for folder in kept:
        meta = read_metadata(folder)
        last = date.fromisoformat(meta["trained_until"])
        first_text = meta.get("training_dates", {}).get("first")
        # Without a recorded start the whole past up to trained_until is kept: the safe side.
        first = date.fromisoformat(first_text) if first_text else date.min
        days.update(_span(max(first, last - timedelta(days=36_500)), last))
    return days


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def open_case_days(settings: Settings, candidates: set[date]) -> set[date]:
    """List dates among `candidates` with a selected item that has no staged outcome yet."""
    lists = [
        (d, p)
        for d, p in layout.partition_files(layout.lists_table(settings), layout.LIST_FILE)
        if d in candidates
    ]
    if not lists:
        return set()
    selected = pl.concat(
        [
            pl.read_parquet(p)
            .filter(pl.col("lane").is_in(["red", "yellow"]))
            .select(
                pl.lit(d).alias("list_date"),
                pl.col("declaration_id").cast(pl.String),
                pl.col("item_no").cast(pl.Int64),
            )
            for d, p in lists
        ]
    )
    outcome_files = [
        p for _, p in layout.partition_files(layout.staged_outcomes(settings), layout.OUTCOMES_FILE)
    ]
    if outcome_files:
        outcomes = pl.concat(
            [
                pl.read_parquet(p).select(
                    pl.col("declaration_id").cast(pl.String), pl.col("item_no").cast(pl.Int64)
                )
                for p in outcome_files
            ]
        )
        whole = outcomes.filter(pl.col("item_no").is_null()).select("declaration_id").unique()
        items = outcomes.drop_nulls("item_no").unique()
        selected = selected.join(whole, on="declaration_id", how="anti").join(
            items, on=["declaration_id", "item_no"], how="anti"
        )
    return set(selected["list_date"].unique().to_list())


def plan_retention(settings: Settings, as_of: date) -> RetentionPlan:
    """Decide, without touching anything, which expired partitions go and which are held."""
    limits = retention_limits(settings)
    expired: dict[str, list[tuple[date, Path]]] = {}
    for table in TABLES:
        folder = table.folder(settings)
        days = layout.partition_days(folder)
        cutoff = as_of - timedelta(days=limits[table.key])
        newest = days[-1] if days else None
        expired[table.key] = [
            (d, layout.partition(folder, d)) for d in days if d < cutoff and d != newest
        ]
    candidates = {d for found in expired.values() for d, _ in found}
    cases = open_case_days(settings, candidates) if candidates else set()
    training = training_days(settings) if candidates else set()
    plan = RetentionPlan(as_of)
    for table in TABLES:
        for day, path in expired[table.key]:
            if table.held_by_cases and day in cases:
                reason = "open case"
            elif table.held_by_training and day in training:
                reason = "model training window"
            else:
                reason = f"older than {limits[table.key]} days"
            remove = reason.startswith("older")
            plan.decisions.append(Decision(table.key, day, path, remove, reason))
    return plan


def _sweep_leftovers(settings: Settings) -> None:
    """Delete folders renamed by a run that stopped before deleting them."""
    for table in TABLES:
        folder = table.folder(settings)
        if folder.is_dir():
            for leftover in folder.glob(f"{REMOVING_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def apply_retention(
    settings: Settings,
    as_of: date,
    *,
    dry_run: bool = False,
    actor: tuple[str, str] | None = None,
) -> RetentionPlan:
    """Remove what the plan says (nothing on a dry run), each removal recorded in the audit."""
    from pipelines.audit_trail import RETENTION_REMOVE, audit_session, record_action

    plan = plan_retention(settings, as_of)
    if dry_run:
        return plan
    _sweep_leftovers(settings)
    renamed: list[tuple[Decision, Path, tuple[int, int]]] = []
    try:
        for decision in plan.removals:
            size = _size(decision.path)
            hidden = decision.path.with_name(f"{REMOVING_PREFIX}{decision.path.name}")
            os.replace(decision.path, hidden)
            renamed.append((decision, hidden, size))
        if renamed:
            with audit_session(settings) as session:
                for decision, _, (files, size_bytes) in renamed:
                    record_action(
                        settings,
                        RETENTION_REMOVE,
                        f"{decision.table}/{layout.partition_name(decision.day)}",
                        {
                            "as_of": as_of.isoformat(),
                            "reason": decision.reason,
                            "files": files,
                            "bytes": size_bytes,
                        },
                        actor=actor,
                        session=session,
                    )
    except BaseException:
        for decision, hidden, _ in renamed:
            os.replace(hidden, decision.path)
        raise
    for _, hidden, _ in renamed:
        shutil.rmtree(hidden)
    return plan


def render_plan(plan: RetentionPlan, dry_run: bool) -> list[str]:
    """Lines for the terminal: per table, what goes (or would go) and what is held."""
    verb = "would remove" if dry_run else "removed"
    lines = [f"retention as of {plan.as_of.isoformat()}"]
    summary = plan.summary()["tables"]
    for table in TABLES:
        entry = summary.get(table.key, {"remove": [], "held": {}})
        days: Sequence[str] = entry["remove"]
        span = f" ({days[0]} .. {days[-1]})" if days else ""
        lines.append(f"{table.key}: {verb} {len(days)} partition(s){span}")
        for reason, held in entry["held"].items():
            lines.append(f"  kept {len(held)} past their time: {reason} ({held[0]} .. {held[-1]})")
    return lines


def night_retention(settings: Settings, day: str | date) -> dict[str, Any]:
    """The nightly task: retention as of the night's date (a backfill of an old date removes
    less, never more); the DAG passes the date as text. Returns a JSON-able summary for XCom."""
    plan = apply_retention(settings, day if isinstance(day, date) else date.fromisoformat(day))
    summary = plan.summary()
    summary["removed"] = len(plan.removals)
    return summary
