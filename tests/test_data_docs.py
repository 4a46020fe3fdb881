"""Great Expectations Data Docs of a night: a file-based context under the data home, a
checkpoint whose UpdateDataDocs action leaves a site, one validation result per night run."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipelines import nightly
from pipelines.data_docs import NAME, build_data_docs, index_path
from pipelines.ingest import ingest_landing
from pipelines.settings import Settings, load_settings
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


def test_a_night_leaves_a_data_docs_site_with_its_validation(settings: Settings) -> None:
    validated = stage_declarations(settings, DAY)
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
