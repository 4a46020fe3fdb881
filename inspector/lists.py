"""Reading what the pipeline published: ranked lists, declaration details and parties' history.

Grain of the frames returned: the ranked list, one row per declaration item scored in one nightly
run; declaration details, one row per declaration item. Nothing here writes; paths come in as
arguments (the lists and staging zones of the home folder). Staging is read through a
`StagingView` that carries the ports the user may see, so no reader can forget the scope.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from contracts.ranked_list import LANES, LIST_SELECTION_REASONS
from pipelines.layout import DECLARATIONS_FILE, LIST_FILE, OUTCOMES_FILE, partition, partition_files

if TYPE_CHECKING:
    from pipelines.publish import ListVersion

LANE_CHOICES = ("selected", *LANES, "all")
_cache_lock = threading.Lock()
_list_cache: dict[Path, tuple[float, pl.DataFrame]] = {}


def list_dates(lists_dir: Path) -> list[date]:
    """Dates with a published list, newest first."""
    return [day for day, _ in reversed(partition_files(lists_dir, LIST_FILE))]


def list_history(
    lists_dir: Path, day: date, ports: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every publication of a date's lists, newest first (the first is the one shown).

    `ports` limits the item counts to the ports an account may see: the count kept with a
    version covers every port, so for a scoped account it is counted again from that version's
    own list file.
    """
    from pipelines.publish import list_versions

    def items(kept: ListVersion) -> int:
        if ports is None:
            return int(kept.rows)
        frame = pl.scan_parquet(kept.folder / LIST_FILE)
        own = frame.filter(pl.col("port_of_discharge").is_in(ports))
        return int(own.select(pl.len()).collect().item())

    return [
        {
            "version": kept.version,
            "current": kept.current,
            "published_at": kept.published_at[:19].replace("T", " "),
            "rows": items(kept),
            "run_ids": ", ".join(kept.run_ids),
            "model_versions": ", ".join(kept.model_versions),
        }
        for kept in reversed(list_versions(lists_dir, day))
    ]


def load_list(lists_dir: Path, day: date) -> pl.DataFrame | None:
    """The published lists of a date (every port), or None; re-read only when the file changes."""
    path = partition(lists_dir, day) / LIST_FILE
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    with _cache_lock:
        cached = _list_cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    frame = pl.read_parquet(path)
    with _cache_lock:
        _list_cache[path] = (mtime, frame)
    return frame


def port_overview(ranked: pl.DataFrame, ports: list[str] | None) -> list[dict[str, Any]]:
    """Per port: items and lane counts; `ports` limits it to the ports an account may see."""
    if ports is not None:
        ranked = ranked.filter(pl.col("port_of_discharge").is_in(ports))
    overview = (
        ranked.group_by("port_of_discharge")
        .agg(
            pl.len().alias("items"),
            *[(pl.col("lane") == lane).sum().alias(lane) for lane in LANES],
            pl.col("risk_score").max().alias("max_risk"),
        )
        .sort("port_of_discharge")
    )
    return overview.to_dicts()


@dataclass(frozen=True)
class ListFilters:
    """What an inspector narrows a port's list to."""

    lane: str = "selected"
    reason: str = ""
    min_risk: float = 0.0
    query: str = ""
    hits_only: bool = False

    def __post_init__(self) -> None:
        if self.lane not in LANE_CHOICES:
            raise ValueError(f"lane must be one of {LANE_CHOICES}, got {self.lane!r}")
        if self.reason and self.reason not in LIST_SELECTION_REASONS:
            raise ValueError(f"reason must be one of {LIST_SELECTION_REASONS}, got {self.reason!r}")
        if not 0.0 <= self.min_risk <= 1.0:
            raise ValueError(f"min_risk must lie between 0 and 1, got {self.min_risk}")


def port_list(ranked: pl.DataFrame, port: str, filters: ListFilters) -> pl.DataFrame:
    """One port's ranked list, filtered, in rank order."""
    rows = ranked.filter(pl.col("port_of_discharge") == port)
    if filters.lane == "selected":
        rows = rows.filter(pl.col("lane") != "green")
    elif filters.lane != "all":
        rows = rows.filter(pl.col("lane") == filters.lane)
    if filters.reason:
        rows = rows.filter(pl.col("selection_reason") == filters.reason)
    if filters.min_risk:
        rows = rows.filter(pl.col("risk_score") >= filters.min_risk)
    if filters.query:
        needle = filters.query.lower()
        rows = rows.filter(
            pl.col("declaration_id").str.to_lowercase().str.contains(needle, literal=True)
            | pl.col("reasons").fill_null("").str.to_lowercase().str.contains(needle, literal=True)
        )
    if filters.hits_only:
        rows = rows.filter(
            (pl.col("rule_hits").list.len() > 0) | (pl.col("watchlist_hits").list.len() > 0)
        )
    return rows.sort("rank")


def rule_holds(run_reports: Path, day: date) -> dict[str, bool]:
    """Rule id -> whether the rule was a legal hold that night, from the selection summary the
    nightly run left (empty when there is none, e.g. a list published by hand)."""
    path = partition(run_reports, day) / "select.json"
    if not path.is_file():
        return {}
    summary = json.loads(path.read_text(encoding="utf-8"))
    rules = (summary.get("precision") or {}).get("rules", [])
    return {str(r["rule_id"]): bool(r.get("force_red")) for r in rules}


def list_row(
    ranked: pl.DataFrame, port: str, declaration_id: str, item_no: int
) -> dict[str, Any] | None:
    """The list row of one item at one port, or None."""
    rows = ranked.filter(
        (pl.col("port_of_discharge") == port)
        & (pl.col("declaration_id") == declaration_id)
        & (pl.col("item_no") == item_no)
    )
    return rows.row(0, named=True) if rows.height else None


@dataclass(frozen=True)
class StagingView:
    """The staging zone as one user may read it: the declarations of `ports` only (None: all).

    An inspector's item page must not show another port's declarations, goods or counts of its
    parties; outcomes are reached only through the declarations they inspected, so they follow.
    """

    folder: Path
    ports: tuple[str, ...] | None = None

    def scan_declarations(self, files: list[Path]) -> pl.LazyFrame:
        """The declarations in `files` that this view may see."""
        frame = pl.scan_parquet(files)
        if self.ports is not None:
            frame = frame.filter(pl.col("port_of_discharge").is_in(list(self.ports)))
        return frame


def declaration(
    staging: Path | StagingView, day: date, declaration_id: str, item_no: int
) -> dict[str, Any] | None:
    """Every field of one declaration item as filed on `day` (the staging partition), or None.

    A bare path reads every port."""
    view = staging if isinstance(staging, StagingView) else StagingView(staging)
    path = partition(view.folder / "declarations", day) / DECLARATIONS_FILE
    if not path.is_file():
        return None
    rows = (
        view.scan_declarations([path])
        .filter((pl.col("declaration_id") == declaration_id) & (pl.col("item_no") == item_no))
        .collect()
    )
    return rows.row(0, named=True) if rows.height else None


def _declarations_before(staging: StagingView, day: date) -> pl.LazyFrame | None:
    folder = staging.folder / "declarations"
    files = [p for d, p in partition_files(folder, DECLARATIONS_FILE) if d < day]
    if not files:
        return None
    return staging.scan_declarations(files).select(
        "declaration_id",
        "item_no",
        "filed_at",
        "port_of_discharge",
        "shipper_id",
        "consignee_id",
        "hs_code",
        "goods_description",
    )


def _outcomes(staging: StagingView) -> pl.LazyFrame | None:
    # Every port's outcomes: they only show joined to the view's declarations (`_inspected`).
    files = [p for _, p in partition_files(staging.folder / "outcomes", OUTCOMES_FILE)]
    if not files:
        return None
    return pl.scan_parquet(files).select(
        "declaration_id", "item_no", "inspected_at", "result", "finding_category"
    )


def _inspected(declarations: pl.LazyFrame, outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Past inspections joined to the items they covered (a null item_no covers every item)."""
    return (
        outcomes.rename({"item_no": "outcome_item_no"})
        .join(declarations, on="declaration_id", how="inner")
        .filter(
            pl.col("outcome_item_no").is_null() | (pl.col("outcome_item_no") == pl.col("item_no"))
        )
    )


def party_history(
    staging: StagingView, day: date, shipper_id: str, consignee_id: str
) -> dict[str, Any]:
    """Before `day`, at the view's ports: declarations, first filing, inspections and findings
    of each party and of the pair."""
    empty = {"declarations": 0, "first_seen": None, "inspections": 0, "findings": 0}
    history = {"shipper": dict(empty), "consignee": dict(empty), "pair": dict(empty)}
    declarations = _declarations_before(staging, day)
    if declarations is None:
        return history
    selectors = {
        "shipper": pl.col("shipper_id") == shipper_id,
        "consignee": pl.col("consignee_id") == consignee_id,
        "pair": (pl.col("shipper_id") == shipper_id) & (pl.col("consignee_id") == consignee_id),
    }
    outcomes = _outcomes(staging)
    for party, selector in selectors.items():
        own = declarations.filter(selector)
        counts = own.select(
            pl.col("declaration_id").n_unique().alias("declarations"),
            pl.col("filed_at").min().dt.date().alias("first_seen"),
        ).collect()
        history[party].update(counts.row(0, named=True))
        if outcomes is not None:
            inspected = (
                _inspected(own, outcomes)
                .unique(["declaration_id", "inspected_at"])
                .select(
                    pl.len().alias("inspections"),
                    (pl.col("result") == "finding").sum().alias("findings"),
                )
                .collect()
            )
            history[party].update(inspected.row(0, named=True))
    return history


def similar_findings(
    staging: StagingView,
    day: date,
    hs_code: str,
    shipper_id: str,
    consignee_id: str,
    *,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Past findings at the view's ports on the same HS heading or with the same shipper or
    consignee, newest first."""
    declarations = _declarations_before(staging, day)
    outcomes = _outcomes(staging)
    if declarations is None or outcomes is None:
        return []
    heading = hs_code[:4]
    found = (
        _inspected(declarations, outcomes.filter(pl.col("result") == "finding"))
        .with_columns(
            pl.concat_str(
                pl.when(pl.col("hs_code").str.slice(0, 4) == heading).then(
                    pl.lit(f"same HS heading {heading}")
                ),
                pl.when(pl.col("shipper_id") == shipper_id).then(pl.lit("same shipper")),
                pl.when(pl.col("consignee_id") == consignee_id).then(pl.lit("same consignee")),
                separator="; ",
                ignore_nulls=True,
            ).alias("similar_by")
        )
        .filter(pl.col("similar_by") != "")
        .sort("inspected_at", descending=True)
        .head(limit)
        .select(
            "declaration_id",
            "item_no",
            "inspected_at",
            "finding_category",
            "hs_code",
            "goods_description",
            "port_of_discharge",
            "similar_by",
        )
        .collect()
    )
    return found.to_dicts()
