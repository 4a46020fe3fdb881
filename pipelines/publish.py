"""Publishing: write one day's ranked lists into the lists zone, and export them for a reader.

Grain of every file: one row per declaration item scored in one nightly run (the ranked-list
contract). The partition `lists/date=D/` holds `ranked_list.parquet`, `ranked_list.csv` (lists
joined with `|`) and `html/<PORT>.html` (a printable list per port); it is written whole and
atomically, and a rerun with the same input gives byte-identical files (nothing in them records
when they were written).

A rerun never loses what it replaces (decision 0027): every publication is also kept as
`versions/v=N/` inside the partition, with a `version.json` saying when and from which run, and
the partition's own files are the newest version. Old versions are carried into the new
partition as hard links and the whole folder is swapped in one step, so readers that know nothing
of versions keep reading the current list and never see a half-written history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts import threats
from contracts.ranked_list import LANES, RANKED_LIST
from pipelines import layout
from pipelines.csv_safe import neutralise_formulas, write_safe_csv
from pipelines.io import (
    atomic_directory,
    atomic_path,
    write_parquet,
    write_parquet_groups,
    write_text,
)
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
    version: int = 1

    def summary(self) -> dict[str, Any]:
        """Small, JSON-ready facts for a run report or an XCom."""
        return {
            "date": self.day.isoformat(),
            "partition": str(self.partition),
            "rows": self.rows,
            "ports": len(self.html),
            "version": self.version,
            **{f"lane_{lane}": count for lane, count in self.lanes},
        }


def _in_order(ranked: pl.DataFrame) -> pl.DataFrame:
    return ranked.cast(pl.Schema(RANKED_LIST.polars_schema)).sort("port_of_discharge", "rank")


def check_list(source: pl.LazyFrame, day: date) -> dict[str, int]:
    """The list's rows per port, ports sorted; ValueError naming the breach if the list breaks
    the contract.

    The checks are counted per port in one pass that reads only the columns they need, so a
    scan of the day's list is checked without holding it; an example of a breach is looked up
    only when there is one.
    """
    columns = source.collect_schema().names()
    if columns != RANKED_LIST.names:
        raise ValueError(
            f"ranked list columns must be {RANKED_LIST.names} in that order, got {columns}"
        )
    ranked = source.cast(pl.Schema(RANKED_LIST.polars_schema))
    other_day = pl.col("list_date") != day
    unexplained = (pl.col("lane") != "green") & (
        pl.col("reasons").is_null() | (pl.col("reasons").str.strip_chars() == "")
    )
    rank = pl.col("rank")
    per_port = (
        ranked.group_by("port_of_discharge")
        .agg(
            pl.len().alias("rows"),
            other_day.sum().alias("other_days"),
            pl.col("lane").is_in(LANES).sum().alias("lanes_known"),
            # n distinct ranks, none null, from 1 to n: exactly 1..n.
            (
                (rank.null_count() == 0)
                & (rank.min() == 1)
                & (rank.max() == pl.len())
                & (rank.n_unique() == pl.len())
            ).alias("ranks_whole"),
            unexplained.sum().alias("unexplained"),
        )
        .collect(engine="streaming")
    )
    if per_port["other_days"].sum():
        first = ranked.filter(other_day).select("list_date").head(1).collect()
        raise ValueError(f"ranked list for {day} holds rows of {first['list_date'][0]}")
    ports = per_port["port_of_discharge"].to_list()
    bad_ports = sorted(p for p in ports if not _PORT.match(p or ""))
    if bad_ports:
        raise ValueError(f"ranked list: port_of_discharge is not a UN/LOCODE: {bad_ports}")
    if per_port["lanes_known"].sum() != per_port["rows"].sum():
        lanes = ranked.select(pl.col("lane").unique()).collect().to_series()
        bad_lanes = sorted(set(lanes.drop_nulls()) - set(LANES))
        raise ValueError(f"ranked list: lanes must be {LANES}, got {bad_lanes or 'nulls'}")
    gaps = per_port.filter(~pl.col("ranks_whole"))["port_of_discharge"]
    if gaps.len():
        raise ValueError(f"ranked list: ranks of {sorted(gaps)} are not 1..n")
    count = per_port["unexplained"].sum()
    if count:
        first = ranked.filter(unexplained).select("port_of_discharge", "rank").head(1).collect()
        example = first.row(0, named=True)
        raise ValueError(
            f"ranked list: {count} red/yellow rows without reasons, e.g. "
            f"{example['port_of_discharge']} rank {example['rank']}"
        )
    return dict(sorted(per_port.select("port_of_discharge", "rows").iter_rows()))


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


def _link_tree(source: Path, target: Path, skip: str | None = None) -> None:
    """Hard-link every file of `source` under `target` (a copy where links cannot be made)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    ignore = shutil.ignore_patterns(skip) if skip else None
    shutil.copytree(source, target, copy_function=link, ignore=ignore, dirs_exist_ok=True)


def _version_record(
    version: int, published_at: str, rows: int, run_ids: set[str], model_versions: set[str]
) -> dict[str, Any]:
    return {
        "version": version,
        "published_at": published_at,
        "rows": rows,
        "run_ids": sorted(run_ids),
        "model_versions": sorted(model_versions),
    }


def _carry_versions(target: Path, tmp: Path) -> int:
    """Put the kept versions of `target` into `tmp`; returns the number the new one gets."""
    kept = layout.list_versions(target)
    for version in kept:
        _link_tree(layout.list_version_dir(target, version), layout.list_version_dir(tmp, version))
    if kept:
        return kept[-1] + 1
    if not (target / PARQUET_FILE).is_file():
        return 1
    # A partition published before versions were kept: its files become version 1.
    first = layout.list_version_dir(tmp, 1)
    _link_tree(target, first, skip=layout.LIST_VERSIONS_DIR)
    when = datetime.fromtimestamp((target / PARQUET_FILE).stat().st_mtime, UTC).isoformat()
    earlier = pl.read_parquet(target / PARQUET_FILE, columns=["run_id", "model_version"])
    record = _version_record(
        1, when, earlier.height, set(earlier["run_id"]), set(earlier["model_version"])
    )
    write_text(json.dumps(record, indent=2, sort_keys=True), first / layout.LIST_VERSION_FILE)
    return 2


def publish_lists(
    ranked: pl.DataFrame | pl.LazyFrame,
    lists_dir: Path,
    day: date,
    lineage: Mapping[str, Any] | None = None,
) -> PublishedLists:
    """Write the day's partition: Parquet, CSV and one HTML page per port, all or nothing.

    The previous lists of the date stay as earlier versions; `lineage` (what the run read and
    with which model, rules and watch lists) is kept beside the list as `lineage.json`.
    `ranked` may be a scan: the lists are then checked in one pass over it and read once per
    port, each port written to the three files in turn, so the night never holds the whole
    day's list (the files are the same bytes).
    """
    source = ranked.lazy()
    ports = check_list(source, day)  # rows per port, ports in order
    target = layout.partition(lists_dir, day)
    published_at = datetime.now(UTC).isoformat()

    def port_list(port: str) -> pl.DataFrame:
        return _in_order(source.filter(pl.col("port_of_discharge") == port).collect())

    with atomic_directory(target) as tmp:
        version = _carry_versions(target, tmp)
        if ports:
            facts = _write_port_by_port(ports, port_list, tmp, day)
        else:
            facts = _Written()
            empty = _in_order(source.collect())
            write_parquet(empty, tmp / PARQUET_FILE)
            write_safe_csv(to_csv_frame(empty), tmp / CSV_FILE)
        if lineage is not None:
            text = json.dumps(dict(lineage), indent=2, sort_keys=True, default=str)
            write_text(text, tmp / layout.LIST_LINEAGE_FILE)
        kept = layout.list_version_dir(tmp, version)
        _link_tree(tmp, kept, skip=layout.LIST_VERSIONS_DIR)
        record = _version_record(
            version, published_at, facts.rows, facts.run_ids, facts.model_versions
        )
        write_text(json.dumps(record, indent=2, sort_keys=True), kept / layout.LIST_VERSION_FILE)
    return PublishedLists(
        day=day,
        partition=target,
        parquet=target / PARQUET_FILE,
        csv=target / CSV_FILE,
        html=tuple(target / HTML_DIR / f"{port}.html" for port in ports),
        rows=facts.rows,
        lanes=tuple((lane, facts.lanes.get(lane, 0)) for lane in LANES),
        version=version,
    )


@dataclass
class _Written:
    """What the pass over the lists counted, for the version record and the summary."""

    rows: int = 0
    lanes: dict[str, int] = field(default_factory=dict)
    run_ids: set[str] = field(default_factory=set)
    model_versions: set[str] = field(default_factory=set)


def _write_port_by_port(
    rows_per_port: Mapping[str, int],
    port_list: Callable[[str], pl.DataFrame],
    folder: Path,
    day: date,
) -> _Written:
    """The CSV (ports in order, one header), each port's page and the Parquet file, reading
    each port's list once.

    The Parquet file is cut into the row groups `write_parquet` makes for the whole list's
    rows, so it is the bytes of the whole list written at once (tests/test_publish.py).
    """
    from pipelines.staging_chunks import row_group_sizes

    written = _Written()
    schema = pl.Schema(RANKED_LIST.polars_schema)
    sizes = row_group_sizes(sum(rows_per_port.values()))
    started = False

    def each_port(csv: BinaryIO) -> Iterator[pl.DataFrame]:
        for port in rows_per_port:
            lists = port_list(port)
            neutralise_formulas(to_csv_frame(lists)).write_csv(
                csv, include_header=written.rows == 0
            )
            write_text(render_port_html(lists, port, day), folder / HTML_DIR / f"{port}.html")
            written.rows += lists.height
            for lane, count in lists["lane"].value_counts().iter_rows():
                written.lanes[lane] = written.lanes.get(lane, 0) + int(count)
            written.run_ids.update(lists["run_id"].unique().to_list())
            written.model_versions.update(lists["model_version"].unique().to_list())
            yield lists

    with atomic_path(folder / CSV_FILE) as tmp, tmp.open("wb") as csv:

        def groups() -> Iterator[pl.DataFrame]:
            nonlocal started
            if started:  # the CSV and pages are written as the ports are read: only once
                raise RuntimeError("the lists' row groups were asked for twice")
            started = True
            return _cut(each_port(csv), sizes, schema)

        write_parquet_groups(groups, schema, folder / PARQUET_FILE)
    if written.rows != sum(rows_per_port.values()):
        raise RuntimeError(
            f"published {written.rows} rows of a list of {sum(rows_per_port.values())}"
        )
    return written


def _cut(
    frames: Iterator[pl.DataFrame], sizes: Sequence[int], schema: pl.Schema
) -> Iterator[pl.DataFrame]:
    """`frames`, end to end, cut into pieces of `sizes` rows."""
    pending, done = pl.DataFrame(schema=schema), 0
    for frame in frames:
        pending = pl.concat([pending, frame])
        while done < len(sizes) and pending.height >= sizes[done]:
            yield pending.head(sizes[done]).rechunk()
            pending, done = pending.slice(sizes[done]), done + 1


@dataclass(frozen=True)
class ListVersion:
    """One publication of a date's lists, as kept in its partition."""

    version: int
    current: bool
    published_at: str
    rows: int
    run_ids: tuple[str, ...]
    model_versions: tuple[str, ...]
    folder: Path


def list_versions(lists_dir: Path, day: date) -> list[ListVersion]:
    """Every kept publication of `day`, oldest first; the last one is current."""
    target = layout.partition(lists_dir, day)
    numbers = layout.list_versions(target)
    found = []
    for number in numbers:
        folder = layout.list_version_dir(target, number)
        record = json.loads((folder / layout.LIST_VERSION_FILE).read_text(encoding="utf-8"))
        found.append(
            ListVersion(
                version=number,
                current=number == numbers[-1],
                published_at=str(record["published_at"]),
                rows=int(record["rows"]),
                run_ids=tuple(record["run_ids"]),
                model_versions=tuple(record["model_versions"]),
                folder=folder,
            )
        )
    return found


def read_lists(lists_dir: Path, day: date, version: int | None = None) -> pl.DataFrame:
    """The published ranked lists of one date (the current version unless told), contract types."""
    folder = layout.partition(lists_dir, day)
    if version is not None:
        folder = layout.list_version_dir(folder, version)
        if not folder.is_dir():
            kept = layout.list_versions(layout.partition(lists_dir, day))
            raise FileNotFoundError(f"no version {version} of the lists of {day}; kept: {kept}")
    path = folder / PARQUET_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no ranked lists published for {day}")
    return pl.read_parquet(path)


def export_lists(
    lists_dir: Path,
    day: date,
    out: Path,
    ports: Sequence[str] | None = None,
    version: int | None = None,
) -> Path:
    """Write one CSV with the lists of every port (or of `ports`) for a date; returns `out`."""
    ranked = read_lists(lists_dir, day, version)
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
