"""Great Expectations Data Docs of a night: a file-based context under the data home, a
checkpoint whose UpdateDataDocs action leaves a site, one validation result per night run."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from expectations.runner import ROW
from pipelines import nightly
from pipelines.data_docs import (
    NAME,
    _chunks,
    _night_suite,
    build_data_docs,
    index_path,
    sample_every,
)
from pipelines.ingest import ingest_landing
from pipelines.settings import Settings, load_settings
from pipelines.stages import DataDocsSummary
from pipelines.staging import stage_declarations

FIXTURES = Path(__file__).parent / "data" / "declarations"
DAY = date(2026, 11, 28)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(environ={}, home=tmp_path / "home", max_rejected_share=0.9)
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True)
    shutil.copy(FIXTURES / "mixed.csv", landing / "mixed.csv")
    ingest_landing(settings, now=datetime(2026, 11, 29, 1, tzinfo=UTC))
    return settings


def test_a_night_leaves_a_data_docs_site_with_its_validation(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from great_expectations.execution_engine import pandas_execution_engine

    validated = stage_declarations(settings, DAY)
    # GE's own fingerprint threshold back (validation above set it): Data Docs must set it too.
    monkeypatch.setattr(pandas_execution_engine, "HASH_THRESHOLD", 1e9)
    summary = nightly.data_docs(settings, DAY)
    index = index_path(settings)
    assert summary["index"] == str(index)
    assert index.is_file() and index.is_relative_to(settings.home)
    assert NAME in index.read_text(encoding="utf-8")
    site = index.parent
    results = list((site / "validations").rglob("*.html"))
    assert len(results) == 1
    # The mixed file has rejected rows: the site shows the suite failing on them.
    assert validated["rows_rejected"] > 0
    assert summary["success"] is False and summary["failed_expectations"] >= 1
    assert summary["rows"] == validated["rows_read"]
    assert (settings.home / "reports" / "runs" / f"date={DAY}" / "data_docs.json").is_file()
    # GE's batch fingerprint (a hash of every value) is skipped: the stored result has none.
    (stored,) = (settings.home / "gx" / "uncommitted" / "validations").rglob("*.json")
    assert "ge_load_time" in stored.read_text(encoding="utf-8")
    assert "pandas_data_fingerprint" not in stored.read_text(encoding="utf-8")


def test_a_rerun_adds_a_run_and_keeps_the_site(settings: Settings) -> None:
    stage_declarations(settings, DAY)
    nightly.data_docs(settings, DAY)
    nightly.data_docs(settings, DAY)
    results = list((index_path(settings).parent / "validations").rglob("*.html"))
    assert len(results) == 2


def test_a_date_without_raw_rows_is_named(settings: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="2020-01-01"):
        nightly.data_docs(settings, date(2020, 1, 1))


@pytest.mark.slow  # a night validated in many chunks: about 20 s on 2 cores
def test_a_night_in_chunks_reads_as_the_whole_night(settings: Settings) -> None:
    # Chunks bound GE's memory; the site then holds one result a chunk, and the summary must say
    # what one whole-night run says: the rows, whether the suite held, which expectations failed.
    stage_declarations(settings, DAY)
    whole = build_data_docs(settings, DAY)
    chunked = build_data_docs(settings, DAY, chunk_rows=20)
    assert whole["runs"] == 1
    assert chunked["runs"] == -(-whole["rows"] // 20) > 1
    for key in ("rows", "success", "expectations", "failed_expectations"):
        assert chunked[key] == whole[key], key
    results = list((index_path(settings).parent / "validations").rglob("*.html"))
    assert len(results) == 1 + chunked["runs"]


def test_a_large_night_is_validated_on_an_even_sample(settings: Settings) -> None:
    # Above data_docs_max_rows the site holds 1 row in k; the summary says how many of how many.
    validated = stage_declarations(settings, DAY)
    total = validated["rows_read"]
    limit = total // 3
    every = sample_every(total, limit)
    assert every >= 3 and -(-total // every) <= limit
    summary = build_data_docs(settings, DAY, chunk_rows=5, max_rows=limit)
    assert summary["sample_every"] == every
    assert summary["rows_in_night"] == total
    assert summary["rows"] == -(-total // every)
    assert summary["runs"] == -(-summary["rows"] // 5)
    # The DAG hands the summary on as the stage's declared summary: the new keys are declared.
    assert DataDocsSummary.from_dict(summary).sample_every == every
    names = [p.read_text(encoding="utf-8") for p in index_path(settings).parent.rglob("*.html")]
    assert any(f"1 row in {every}" in text for text in names)


def test_the_sample_keeps_every_kth_row_of_the_night_across_files(
    settings: Settings, tmp_path: Path
) -> None:
    # Row numbers run on from one file to the next, so the sample is even over the whole night,
    # not restarted in each file; chunks are full except the last.
    stage_declarations(settings, DAY)
    files, suite = _night_suite(settings, DAY)
    (first, rows), *_ = files.items()
    second = tmp_path / "second.parquet"
    shutil.copy(first, second)
    night = {first: rows, second: rows}
    for every in (1, 3, 7):
        chunks = list(_chunks(night, suite, 4, every))
        numbers = pl.concat([c.get_column(ROW) for c in chunks]).to_list()
        assert numbers == list(range(0, 2 * rows, every))
        assert all(c.height == 4 for c in chunks[:-1]) and 0 < chunks[-1].height <= 4
    whole = pl.concat(list(_chunks(night, suite, 1_000, 1)))
    sampled = pl.concat(list(_chunks(night, suite, 4, 3)))
    # The sampled rows are the whole night's rows with those numbers, helper columns included.
    assert sampled.equals(whole.filter(pl.col(ROW) % 3 == 0))


def test_a_limit_of_zero_validates_the_whole_night() -> None:
    assert sample_every(10_000_000, 0) == 1
    assert sample_every(1_000_000, 1_000_000) == 1
    assert sample_every(1_000_001, 1_000_000) == 2
    assert sample_every(9_943_502, 1_000_000) == 10
