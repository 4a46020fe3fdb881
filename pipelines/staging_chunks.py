"""Validate a filing date's raw partition chunk by chunk: memory set by the chunk, not the day.

The whole-day stage held the day's raw rows as strings, their typed copy and Great Expectations'
value tables at once (2.5 GB at 1 M declarations a day, 6.2 GB at 3 M; decision 0033). Here the
raw rows are read `chunk_rows` at a time, in the order `raw_partition` gives them, and each
chunk is cast and checked on its own: every contract rule is a rule on one row, so a row's
verdict does not depend on its neighbours. Valid and rejected rows go to scratch Arrow IPC files.
What spans the day is done on narrow columns or streamed: the latest filing of each key and the
staging order come from the key columns alone; the staging file is merged from rank-sorted runs
and written row group by row group. Whatever the chunk size, the files are the same bytes
(tested). Against the whole-day stage, quarantine is byte-identical and staging holds the same
rows; a staging file of more than one row group differs in the page layout of its list columns,
which the whole-day writer took from how its frame sat in memory
(docs/decisions/0038-streamed-validate.md).
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from contracts.declarations import DECLARATIONS
from contracts.reading import LINE, SOURCE_FILE
from expectations.runner import Verdicts
from pipelines.ingest import read_raw_files
from pipelines.io import PARQUET_OPTIONS
from pipelines.validate import INGESTED_AT, staging_order, validate_frame

CHUNK_ROWS = 250_000
"""Raw rows validated at once. At 1 M a day the whole day took 2.5 GB; a quarter of it about
0.8 GB (decision 0038). Great Expectations' fixed cost (~0.1 s a batch) is paid per chunk."""
MIN_RUN_ROWS = 4_096
"""Smallest piece of a rank-sorted run: merging holds about one piece per run."""
POSITION = "__position"
RANK = "__rank"


@dataclass(frozen=True)
class RawPlan:
    """How to read a date's raw files in chunks so that, end to end, they are `raw_partition`."""

    files: tuple[Path, ...]
    """In row order when `in_order`; else in name order (read whole, then sorted)."""
    schema: pl.Schema
    """Columns and types of the whole partition (files lacking a column get nulls)."""
    rows: int
    ingested_at: datetime
    """The latest arrival in the partition: rows are judged against it."""
    in_order: bool
    """Each file is one (arrival, source) in line order, so the files follow one another."""


def plan_raw(files: list[Path]) -> RawPlan | None:
    """The plan for `files` (a date's raw files in name order), None when there are none."""
    if not files:
        return None
    schema = pl.concat(
        [pl.DataFrame(schema=pl.read_parquet_schema(f)) for f in files], how="diagonal_relaxed"
    ).schema
    heads: list[tuple[datetime, str, Path]] = []
    rows, in_order = 0, True
    arrivals: list[datetime] = []
    for path in files:
        keys = pl.read_parquet(path, columns=[INGESTED_AT, SOURCE_FILE, LINE])
        rows += keys.height
        arrivals.extend(keys[INGESTED_AT].drop_nulls().unique().to_list())
        lines = keys[LINE]
        single = keys.select(pl.col(INGESTED_AT, SOURCE_FILE).n_unique()).row(0) == (1, 1)
        ordered = lines.null_count() == 0 and lines.is_sorted() and lines.n_unique() == len(lines)
        if len(files) == 1:
            # `raw_partition` takes a lone file as it is when its lines are in order.
            in_order = lines.is_sorted()
        elif (
            not (single and ordered)
            or keys[SOURCE_FILE].has_nulls()
            or keys[INGESTED_AT].has_nulls()
        ):
            # A file without its source or arrival (never written by ingest) cannot be placed
            # in arrival order: the whole partition is read and sorted instead.
            in_order = False
        elif keys.height:
            heads.append((keys[INGESTED_AT][0], keys[SOURCE_FILE][0], path))
    if len(files) > 1 and in_order:
        pairs = [(arrived, source) for arrived, source, _ in heads]
        if len(set(pairs)) != len(pairs):
            in_order = False
        else:
            # Sorted on (arrival, source, line), the files follow one another whole.
            files = [path for _, _, path in sorted(heads, key=lambda h: (h[0], h[1]))]
    if not arrivals:
        raise ValueError(f"raw files without an arrival time: {files}")
    return RawPlan(tuple(files), schema, rows, max(arrivals), in_order)


def raw_chunks(plan: RawPlan, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The partition's rows as `raw_partition` gives them, `chunk_rows` at most at a time.

    Files whose rows interleave (two arrivals of one source at the same moment) cannot be
    streamed: the partition is then read whole and cut, as the whole-day stage did.
    """
    if not plan.in_order:
        whole = read_raw_files(list(plan.files))
        if whole is None:
            whole = pl.DataFrame(schema=plan.schema)
        for offset in range(0, max(whole.height, 1), chunk_rows):
            yield whole.slice(offset, chunk_rows)
        return
    yielded = False
    for path in plan.files:
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        for offset in range(0, rows, chunk_rows):
            yielded = True
            yield _aligned(pl.scan_parquet(path).slice(offset, chunk_rows).collect(), plan)
    if not yielded:
        yield pl.DataFrame(schema=plan.schema)


def _aligned(chunk: pl.DataFrame, plan: RawPlan) -> pl.DataFrame:
    """A chunk of one file with the partition's columns, as the day's concatenation has them."""
    if chunk.schema == plan.schema:
        return chunk
    return chunk.select(
        (pl.col(name) if name in chunk.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in plan.schema.items()
    )


@dataclass
class ScratchParts:
    """What validating the chunks left in the scratch folder, in row order."""

    valid: list[tuple[Path, int]] = field(default_factory=list)
    """(file, rows) of each chunk's valid rows."""
    rejected: list[Path] = field(default_factory=list)

    @property
    def valid_rows(self) -> int:
        """Rows that passed every check, over the chunks."""
        return sum(rows for _, rows in self.valid)


def validate_chunks(
    plan: RawPlan,
    refs: Mapping[str, Collection[str]],
    tolerance: timedelta,
    scratch: Path,
    chunk_rows: int = CHUNK_ROWS,
) -> ScratchParts:
    """Validate the partition chunk by chunk into `scratch`.

    Scratch files are Arrow IPC with lz4: they keep every type as it is and cost a fraction of
    Parquet's encoding; they live only for the stage.
    """
    parts = ScratchParts()
    # Great Expectations judges each distinct value of the day once, in the chunk it first
    # appears in (`Verdicts`); a set of columns with nothing new costs no GE batch.
    verdicts = Verdicts()
    for number, chunk in enumerate(raw_chunks(plan, chunk_rows)):
        valid, rejected = validate_frame(
            chunk, refs, plan.ingested_at, future_tolerance=tolerance, verdicts=verdicts
        )
        del chunk
        path = scratch / f"valid-{number:06d}.arrow"
        valid.write_ipc(path, compression="lz4")
        parts.valid.append((path, valid.height))
        if rejected.height:
            rejected_path = scratch / f"rejected-{number:06d}.arrow"
            rejected.write_ipc(rejected_path, compression="lz4")
            parts.rejected.append(rejected_path)
    return parts


def staged_rank(parts: ScratchParts) -> pl.DataFrame:
    """(position in the valid rows, rank in staging) of every row staging keeps, by position.

    The same choice and order as `latest_filings` on the whole day, made on the key columns.
    """
    narrow = pl.scan_ipc([path for path, _ in parts.valid]).select(*DECLARATIONS.key, "filed_at")
    order = staging_order(narrow.collect())
    return pl.DataFrame(
        {POSITION: order.cast(pl.Int64()), RANK: pl.int_range(len(order), eager=True)}
    ).sort(POSITION)


@dataclass(frozen=True)
class RunPiece:
    """Consecutive staged rows of one run, sorted by rank: ranks `first`..`last` held."""

    first: int
    last: int
    path: Path


def sorted_runs(parts: ScratchParts, ranks: pl.DataFrame, scratch: Path) -> list[RunPiece]:
    """Each chunk's kept rows sorted by staging rank, cut into pieces; all pieces by first rank."""
    piece_rows = max(MIN_RUN_ROWS, CHUNK_ROWS // max(len(parts.valid), 1))
    pieces: list[RunPiece] = []
    offset = 0
    for number, (path, rows) in enumerate(parts.valid):
        mine = ranks.filter(pl.col(POSITION).is_between(offset, offset + rows - 1)).sort(RANK)
        offset += rows
        if mine.height == 0:
            continue
        # One gather of the wide rows, straight into rank order.
        kept = (
            pl.read_ipc(path)
            .select(pl.all().gather(mine[POSITION] - (offset - rows)))
            .with_columns(mine[RANK])
        )
        for start in range(0, kept.height, piece_rows):
            piece = kept.slice(start, piece_rows)
            target = scratch / f"run-{number:06d}-{start:09d}.arrow"
            piece.write_ipc(target, compression="lz4")
            pieces.append(RunPiece(piece[RANK][0], piece[RANK][-1], target))
    return sorted(pieces, key=lambda p: p.first)


def merged_groups(pieces: list[RunPiece], sizes: list[int]) -> Iterator[pl.DataFrame]:
    """The staged rows in rank order, one frame per row group of `sizes`."""
    firsts = [p.first for p in pieces]
    loaded: dict[Path, pl.DataFrame] = {}
    start = 0
    for size in sizes:
        end = start + size
        # Pieces starting before `end` whose last rank reaches `start` hold this group's rows.
        wanted = [p for p in pieces[: bisect.bisect_left(firsts, end)] if p.last >= start]
        # Keep what the next group may still need; read only what this one adds.
        loaded = {
            p.path: loaded[p.path] if p.path in loaded else pl.read_ipc(p.path) for p in wanted
        }
        group = (
            pl.concat(
                [frame.filter(pl.col(RANK).is_between(start, end - 1)) for frame in loaded.values()]
            )
            .sort(RANK)
            .drop(RANK)
            .rechunk()
        )
        if group.height != size:
            raise RuntimeError(f"staging merge: {group.height} rows for ranks {start}..{end - 1}")
        yield group
        start = end


def row_group_sizes(rows: int) -> list[int]:
    """The row groups Polars' `write_parquet` makes of a one-chunk frame of `rows` rows.

    Found by writing a one-byte column of that many rows: the split depends on the row count
    alone (tested against wide frames in tests/test_staging_chunks.py).
    """
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pl.DataFrame({"_": pl.zeros(rows, pl.Int8(), eager=True)}).write_parquet(
        buffer, **PARQUET_OPTIONS
    )
    buffer.seek(0)
    meta = pq.ParquetFile(buffer).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
