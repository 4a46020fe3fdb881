"""Validation in chunks writes the very files the whole-day validation writes (decision 0038)."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from contracts.reading import SOURCE_FILE
from pipelines import layout, staging_chunks
from pipelines.ingest import ingest_landing, raw_files, raw_partition
from pipelines.io import PARQUET_OPTIONS, write_parquet_groups
from pipelines.settings import Settings, load_settings
from pipelines.staging import BatchError, quarantine_file_name, stage_declarations
from pipelines.staging_chunks import plan_raw, raw_chunks, row_group_sizes
from pipelines.validate import latest_filings, reference_sets, validate_frame

FIXTURES = Path(__file__).parent / "data" / "declarations"
DAY = date(2026, 11, 28)
ARRIVED = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def _home(root: Path) -> Settings:
    """A home whose raw partition of DAY holds three files: bad rows, amendments, and a file
    with a column the others lack (the partition's columns are the union)."""
    settings = load_settings(environ={}, home=root, max_rejected_share=0.9)
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True)
    shutil.copy(FIXTURES / "mixed.csv", landing / "mixed.csv")
    shutil.copy(FIXTURES / "amendments.csv", landing / "amendments.csv")
    extra = pl.read_csv(FIXTURES / "amendments.csv", infer_schema=False).with_columns(
        pl.lit("late note").alias("broker_note"),
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("12AB"))
        .otherwise("hs_code")
        .alias("hs_code"),
    )
    extra.write_csv(landing / "extra.csv")
    ingest_landing(settings, now=ARRIVED)
    assert len(raw_files(settings, DAY)) == 3
    return settings


def _outputs(settings: Settings) -> dict[str, bytes]:
    staged = layout.staged_declarations_file(settings, DAY)
    quarantine = layout.partition(layout.quarantine_declarations(settings), DAY)
    found = {"staging": staged.read_bytes()}
    found.update({p.name: p.read_bytes() for p in sorted(quarantine.glob("*.parquet"))})
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One home for the comparisons: file names and `_source_file` hold the landing path."""
    return _home(tmp_path_factory.mktemp("chunks"))


@pytest.fixture(scope="module")
def whole_day(home: Settings) -> tuple[dict[str, bytes], dict[str, object]]:
    """The files and summary of one chunk holding the whole day."""
    summary = stage_declarations(home, DAY, chunk_rows=10**9)
    return _outputs(home), summary


@pytest.mark.parametrize("chunk_rows", [16, 45])
def test_the_chunk_size_changes_no_byte_of_staging_or_quarantine(
    home: Settings, whole_day: tuple[dict[str, bytes], dict[str, object]], chunk_rows: int
) -> None:
    files, whole_summary = whole_day
    summary = stage_declarations(home, DAY, chunk_rows=chunk_rows)
    assert _outputs(home) == files
    assert len(files) == 3  # staging and the quarantine of the two files with bad rows
    assert summary == whole_summary
    assert summary["amendments_superseded"] and summary["rows_rejected"]


def test_streamed_files_are_those_of_the_whole_frame_validation(
    home: Settings, whole_day: tuple[dict[str, bytes], dict[str, object]]
) -> None:
    """The files equal what the whole-day code (one frame, `write_parquet`) writes."""
    raw = raw_partition(home, DAY)
    assert raw is not None
    valid, rejected = validate_frame(
        raw,
        reference_sets(home),
        raw["_ingested_at"].max(),  # type: ignore[arg-type]
        future_tolerance=timedelta(days=home.future_tolerance_days),
    )
    expected = {"staging": _parquet_bytes(latest_filings(valid))}
    for (source,), part in rejected.group_by(SOURCE_FILE, maintain_order=True):
        name = quarantine_file_name(str(source))
        expected[name] = _parquet_bytes(part.sort("_line", "field", "rule"))
    assert whole_day[0] == {"staging": expected.pop("staging"), **dict(sorted(expected.items()))}


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, **PARQUET_OPTIONS)
    return buffer.getvalue()


@pytest.mark.parametrize("rows", [0, 5, 122_880, 122_881, 300_001])
def test_row_groups_written_one_by_one_give_write_parquets_bytes(tmp_path: Path, rows: int) -> None:
    frame = pl.DataFrame(
        {
            "id": pl.int_range(rows, eager=True).cast(pl.String()),
            "value": pl.int_range(rows, eager=True) * 0.5,
            "parts": pl.int_range(rows, eager=True).cast(pl.String()).str.split("1"),
        }
    )
    sizes = row_group_sizes(rows)
    whole = _parquet_bytes(frame)
    assert [
        g.num_rows
        for g in (
            pq.ParquetFile(io.BytesIO(whole)).metadata.row_group(i) for i in range(len(sizes))
        )
    ] == sizes

    def groups() -> list[pl.DataFrame]:
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        return [frame.slice(o, n).rechunk() for o, n in zip(offsets, sizes, strict=True)]

    if rows == 0:
        return  # the stage writes an empty staging with `write_parquet` itself
    target = write_parquet_groups(lambda: iter(groups()), frame.schema, tmp_path / "out.parquet")
    assert target.read_bytes() == whole


def test_interleaved_raw_files_are_read_as_the_whole_partition(tmp_path: Path) -> None:
    """Two files of one source and arrival whose lines interleave: read whole, then cut."""
    folder = tmp_path / "date=2026-11-28"
    folder.mkdir()
    base = {"_ingested_at": [ARRIVED] * 2, SOURCE_FILE: ["a.csv"] * 2}
    pl.DataFrame({**base, "_line": [2, 4], "x": ["b", "d"]}).write_parquet(folder / "1.parquet")
    pl.DataFrame({**base, "_line": [1, 3], "x": ["a", "c"]}).write_parquet(folder / "2.parquet")
    plan = plan_raw(sorted(folder.glob("*.parquet")))
    assert plan is not None and not plan.in_order
    chunks = list(raw_chunks(plan, 3))
    assert [c.height for c in chunks] == [3, 1]
    assert pl.concat(chunks)["x"].to_list() == ["a", "b", "c", "d"]


def test_files_of_one_source_arriving_apart_follow_one_another(tmp_path: Path) -> None:
    folder = tmp_path / "date=2026-11-28"
    folder.mkdir()
    later = ARRIVED + timedelta(hours=1)
    frame = {SOURCE_FILE: ["a.csv"] * 2, "_line": [1, 2]}
    pl.DataFrame({**frame, "_ingested_at": [later] * 2, "x": ["c", "d"]}).write_parquet(
        folder / "1.parquet"
    )
    pl.DataFrame({**frame, "_ingested_at": [ARRIVED] * 2}).write_parquet(folder / "2.parquet")
    plan = plan_raw(sorted(folder.glob("*.parquet")))
    assert plan is not None and plan.in_order and plan.ingested_at == later
    chunks = list(raw_chunks(plan, 1))
    assert len(chunks) == 4 and all(c.columns == chunks[0].columns for c in chunks)
    assert pl.concat(chunks)["x"].to_list() == [None, None, "c", "d"]


def test_a_failure_mid_way_leaves_the_previous_files_and_no_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _home(tmp_path)
    stage_declarations(settings, DAY, chunk_rows=40)
    before = _outputs(settings)
    calls = {"n": 0}
    real = staging_chunks.validate_frame

    def failing_third_chunk(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(staging_chunks, "validate_frame", failing_third_chunk)
    with pytest.raises(OSError, match="disk went away"):
        stage_declarations(settings, DAY, chunk_rows=40)
    assert _outputs(settings) == before
    leftovers = list(layout.staged_declarations(settings).glob(".*"))
    assert leftovers == []


def test_too_many_rejections_still_quarantine_every_rejected_row(tmp_path: Path) -> None:
    settings = _home(tmp_path)
    strict = load_settings(environ={}, home=tmp_path, max_rejected_share=0.01)
    with pytest.raises(BatchError, match="rows rejected"):
        stage_declarations(strict, DAY, chunk_rows=50)
    assert not layout.staged_declarations_file(strict, DAY).exists()
    quarantine = pl.read_parquet(layout.partition(layout.quarantine_declarations(strict), DAY))
    lenient = stage_declarations(settings, DAY, chunk_rows=10**9)
    assert quarantine.select(SOURCE_FILE, "_line").n_unique() == lenient["rows_rejected"]


def test_a_killed_runs_scratch_folder_is_swept_by_the_next_run_of_its_date(tmp_path: Path) -> None:
    from pipelines.nightly import sweep_date
    from pipelines.staging import scratch_folder

    settings = load_settings(environ={}, home=tmp_path)
    with scratch_folder(settings, DAY) as scratch:
        (scratch / "valid-000000.arrow").write_bytes(b"half")
        # A kill here would leave it: copy it aside as the leftover.
        leftover = scratch.with_name(scratch.name.replace(".validate.", ".validate.killed"))
        shutil.copytree(scratch, leftover)
    assert not scratch.exists() and leftover.exists()
    assert leftover in sweep_date(settings, DAY)
    assert not leftover.exists()
