from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.io import atomic_directory, write_parquet


def test_failed_partition_write_keeps_the_old_partition(tmp_path: Path) -> None:
    target = tmp_path / "date=2026-01-01"
    with atomic_directory(target) as tmp:
        (tmp / "part.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "part.txt").write_text("half")
        raise RuntimeError("crash mid-way")
    assert (target / "part.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["date=2026-01-01"]


def test_parquet_rewrite_is_byte_identical(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    first = write_parquet(frame, tmp_path / "t.parquet").read_bytes()
    second = write_parquet(frame, tmp_path / "t.parquet").read_bytes()
    assert first == second
