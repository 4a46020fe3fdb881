"""Gathering the ports' parts into the day's file (pipelines/ports.py `_merge_by_row`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipelines.io import write_parquet
from pipelines.ports import ROW, _merge_by_row
from pipelines.staging_chunks import row_group_sizes


def test_ports_merged_a_row_group_at_a_time_give_the_whole_day_file(tmp_path: Path) -> None:
    rows = 300_001  # three row groups of the day, the last a single row
    assert len(row_group_sizes(rows)) == 3
    day = pl.DataFrame({ROW: pl.arange(0, rows, eager=True).cast(pl.UInt32)}).with_columns(
        # Ports interleave through the day, one of them rare, as in a real night.
        port=pl.when(pl.col(ROW) % 97 == 0)
        .then(pl.lit("RARE"))
        .otherwise(pl.format("P{}", (pl.col(ROW) * 7919) % 5)),
        value=(pl.col(ROW) * 0.37).sin(),
    )
    parts = []
    for port in sorted(day["port"].unique()):
        parts.append(
            write_parquet(day.filter(pl.col("port") == port), tmp_path / f"{port}.parquet")
        )
    merged = _merge_by_row(parts, tmp_path / "day.parquet")
    expected = write_parquet(day.drop(ROW), tmp_path / "whole.parquet")
    assert pl.read_parquet(merged).equals(day.drop(ROW))
    assert merged.read_bytes() == expected.read_bytes()


def test_parts_of_several_row_groups_merge_to_the_sorted_concatenation(tmp_path: Path) -> None:
    rows = 600_001  # five row groups of the day
    day = pl.DataFrame({ROW: pl.arange(0, rows, eager=True).cast(pl.UInt32)}).with_columns(
        port=pl.when(pl.col(ROW) % 101 == 0)
        .then(pl.lit("RARE"))
        .when((pl.col(ROW) * 7919) % 9 < 5)
        .then(pl.lit("BIG"))
        .otherwise(pl.lit("MID")),
        filed_at=pl.datetime(2025, 1, 4, time_zone="UTC") + pl.duration(seconds=pl.col(ROW)),
        # No list column: Polars lays a list column's pages out by how the frame sits in
        # memory (pipelines/staging_chunks.py); the gathered files have none.
        word=pl.format("w{}", pl.col(ROW) % 13),
        flag=pl.col(ROW) % 3 == 0,
    )
    parts = [
        write_parquet(day.filter(pl.col("port") == port), tmp_path / f"{port}.parquet")
        for port in ("BIG", "MID", "RARE")
    ]
    # The parts themselves span several row groups, cut where the day's are not.
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in parts] == [3, 2, 1]
    merged = _merge_by_row(parts, tmp_path / "day.parquet")
    concatenated = pl.concat([pl.read_parquet(p) for p in parts]).sort(ROW).drop(ROW)
    assert pl.read_parquet(merged).equals(concatenated)
    assert (
        merged.read_bytes() == write_parquet(concatenated, tmp_path / "whole.parquet").read_bytes()
    )


def test_a_ports_chunks_merge_to_its_part_in_groups_of_the_asked_size(tmp_path: Path) -> None:
    """A port's chunks: its rows only (not every staged row), the later chunks giving nothing to
    the first groups, one chunk's rows not side by side in the day; `_row` kept, reasons set."""
    rows = pl.Series(ROW, [3, 8, 9, 15, 16, 22, 40, 41, 57, 60, 61, 70], dtype=pl.UInt32)
    port = pl.DataFrame({ROW: rows, "reasons": pl.Series([None] * 12, dtype=pl.String)})
    port = port.with_columns(value=pl.col(ROW).cast(pl.Int64) * 2)
    chunks = [port[[0, 1, 2, 4]], port[[3, 5, 6]], port[[7, 8, 9, 10, 11]]]
    parts = [write_parquet(c, tmp_path / f"chunk-{i}.parquet") for i, c in enumerate(chunks)]
    reasons = pl.DataFrame({ROW: pl.Series([9, 61], dtype=pl.UInt32), "reasons": ["a", "b"]})
    merged = _merge_by_row(parts, tmp_path / "port.parquet", group_rows=5, reasons=reasons)
    expected = port.with_columns(
        reasons=pl.when(pl.col(ROW) == 9)
        .then(pl.lit("a"))
        .when(pl.col(ROW) == 61)
        .then(pl.lit("b"))
    )
    assert pl.read_parquet(merged).equals(expected)
    assert [pq.ParquetFile(merged).metadata.row_group(i).num_rows for i in range(3)] == [5, 5, 2]
