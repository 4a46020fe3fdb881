"""Publishing: write one day's ranked lists into the lists zone, and export them for a reader.

Grain of every file: one row per declaration item scored in one nightly run (the ranked-list
contract). The partition `lists/date=D/` holds `ranked_list.parquet`, `ranked_list.csv` (lists
joined with `|`) and `html/<PORT>.html` (a printable list per port); it is written whole and
atomically, and a rerun with the same input gives byte-identical files (nothing in them records
when they were written).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts import threats
from contracts.ranked_list import LANES, RANKED_LIST
from pipelines import layout
from pipelines.csv_safe import write_safe_csv
from pipelines.io import atomic_directory, write_parquet, write_text
from pipelines.select import Selection, SelectionPolicy, select_day
from pipelines.settings import Settings

PARQUET_FILE = layout.LIST_FILE
CSV_FILE = layout.LIST_CSV_FILE
HTML_DIR = "html"
TEMPLATES = Path(__file__).parent / "templates"
LANE_MEANING = {
    "red": "physical inspection",
    "yellow": "document check",
    "green": "release",
}
_PORT = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


@dataclass(frozen=True)
class PublishedLists:
    """Where one day's lists were written and how many items each lane holds."""

    day: date
    partition: Path
    parquet: Path
    csv: Path
    html: tuple[Path, ...]
    rows: int
    lanes: tuple[tuple[str, int], ...]

    def summary(self) -> dict[str, Any]:
        """Small, JSON-ready facts for a run report or an XCom."""
        return {
            "date": self.day.isoformat(),
            "partition": str(self.partition),
            "rows": self.rows,
            "ports": len(self.html),
            **{f"lane_{lane}": count for lane, count in self.lanes},
        }


def check_ranked(ranked: pl.DataFrame, day: date) -> pl.DataFrame:
    """The frame in contract order, sorted by port and rank; ValueError naming the breach if not."""
    if ranked.columns != RANKED_LIST.names:
        raise ValueError(
            f"ranked list columns must be {RANKED_LIST.names} in that order, got {ranked.columns}"
        )
    ranked = ranked.cast(pl.Schema(RANKED_LIST.polars_schema))
    other_days = ranked.filter(pl.col("list_date") != day)
    if other_days.height:
        raise ValueError(f"ranked list for {day} holds rows of {other_days['list_date'][0]}")
    bad_ports = sorted(p for p in ranked["port_of_discharge"].unique() if not _PORT.match(p or ""))
    if bad_ports:
        raise ValueError(f"ranked list: port_of_discharge is not a UN/LOCODE: {bad_ports}")
    bad_lanes = sorted(set(ranked["lane"].unique().drop_nulls()) - set(LANES))
    if bad_lanes or ranked["lane"].null_count():
        raise ValueError(f"ranked list: lanes must be {LANES}, got {bad_lanes or 'nulls'}")
    gaps = (
        ranked.group_by("port_of_discharge")
        .agg(pl.col("rank").sort().alias("ranks"), pl.len().alias("n"))
        .filter(pl.col("ranks") != pl.int_ranges(1, pl.col("n") + 1))
    )
    if gaps.height:
        raise ValueError(f"ranked list: ranks of {sorted(gaps['port_of_discharge'])} are not 1..n")
    unexplained = ranked.filter(
        (pl.col("lane") != "green")
        & (pl.col("reasons").is_null() | (pl.col("reasons").str.strip_chars() == ""))
    )
    if unexplained.height:
        first = unexplained.row(0, named=True)
        raise ValueError(
            f"ranked list: {unexplained.height} red/yellow rows without reasons, e.g. "
            f"{first['port_of_discharge']} rank {first['rank']}"
        )
    return ranked.sort("port_of_discharge", "rank")


def to_csv_frame(ranked: pl.DataFrame) -> pl.DataFrame:
    """The contract frame with list columns joined by the contract's separator for CSV."""
    separator = RANKED_LIST.list_separator
    return ranked.with_columns(
        pl.col(c.name).list.join(separator).fill_null("")
        for c in RANKED_LIST.columns
        if c.kind == "list"
    )


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_port_html(ranked_port: pl.DataFrame, port: str, day: date) -> str:
    """A printable HTML list of one port: lane counts, red and yellow rows, green summarised."""
    ranked_port = ranked_port.sort("rank")
    counts = dict(ranked_port["lane"].value_counts().iter_rows())
    selected = ranked_port.filter(pl.col("lane") != "green")
    green = ranked_port.filter(pl.col("lane") == "green")
    reason_counts = (
        selected.group_by("selection_reason").len().sort("len", "selection_reason", descending=True)
    )
    green_summary: dict[str, Any] = {"count": green.height}
    if green.height:
        green_summary |= {
            "first_rank": green["rank"].min(),
            "last_rank": green["rank"].max(),
            "max_risk": green["risk_score"].max(),
            "median_risk": green["risk_score"].median(),
            "with_hits": green.filter(pl.col("rule_hits").list.len() > 0).height,
        }
    template = _environment().get_template("ranked_list.html.j2")
    return template.render(
        port=port,
        day=day.isoformat(),
        run_ids=sorted(ranked_port["run_id"].unique().to_list()),
        model_versions=sorted(ranked_port["model_version"].unique().to_list()),
        total=ranked_port.height,
        lanes=[
            {"name": lane, "count": counts.get(lane, 0), "meaning": LANE_MEANING[lane]}
            for lane in LANES
        ],
        reason_counts=list(reason_counts.iter_rows()),
        selected=selected.to_dicts(),
        green=green_summary,
        threats=threats.THREATS,
    )


def publish_lists(ranked: pl.DataFrame, lists_dir: Path, day: date) -> PublishedLists:
    """Write the day's partition: Parquet, CSV and one HTML page per port, all or nothing."""
    ranked = check_ranked(ranked, day)
    target = layout.partition(lists_dir, day)
    ports = sorted(ranked["port_of_discharge"].unique().to_list())
    pages = {
        port: render_port_html(ranked.filter(pl.col("port_of_discharge") == port), port, day)
        for port in ports
    }
    with atomic_directory(target) as tmp:
        write_parquet(ranked, tmp / PARQUET_FILE)
        write_safe_csv(to_csv_frame(ranked), tmp / CSV_FILE)
        for port, page in pages.items():
            write_text(page, tmp / HTML_DIR / f"{port}.html")
    counts = dict(ranked["lane"].value_counts().iter_rows())
    return PublishedLists(
        day=day,
        partition=target,
        parquet=target / PARQUET_FILE,
        csv=target / CSV_FILE,
        html=tuple(target / HTML_DIR / f"{port}.html" for port in ports),
        rows=ranked.height,
        lanes=tuple((lane, int(counts.get(lane, 0))) for lane in LANES),
    )


def read_lists(lists_dir: Path, day: date) -> pl.DataFrame:
    """The published ranked lists of one date, in contract types."""
    path = layout.partition(lists_dir, day) / PARQUET_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no ranked lists published for {day}")
    return pl.read_parquet(path)


def export_lists(lists_dir: Path, day: date, out: Path, ports: Sequence[str] | None = None) -> Path:
    """Write one CSV with the lists of every port (or of `ports`) for a date; returns `out`."""
    ranked = read_lists(lists_dir, day)
    if ports:
        unknown = sorted(set(ports) - set(ranked["port_of_discharge"].unique()))
        if unknown:
            raise ValueError(f"no list for port(s) {unknown} on {day}")
        ranked = ranked.filter(pl.col("port_of_discharge").is_in(list(ports)))
    return write_safe_csv(to_csv_frame(ranked.sort("port_of_discharge", "rank")), out)


def publish_day(
    settings: Settings, day: date, run_id: str, policy: SelectionPolicy | None = None
) -> tuple[Selection, PublishedLists]:
    """Select lanes from the day's scores partition and publish the lists partition."""
    selection = select_day(settings, day, run_id, policy)
    return selection, publish_lists(selection.ranked, settings.zone("lists"), day)
