"""Outcomes import: contract checks, then checks against staging; bad rows to quarantine."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.ingest import ingest_landing
from pipelines.layout import staged_outcomes_file
from pipelines.outcomes import import_outcome_files
from pipelines.settings import Settings, load_settings
from pipelines.staging import stage_declarations

FIXTURES = Path(__file__).parent / "data" / "declarations"

HEADER = "declaration_id,item_no,inspected_at,selection_reason,result,finding_category,inspector_id"
OUTCOMES_CSV = (
    HEADER
    + """,notes
D-0500,1,2026-11-29T09:00:00Z,risk,no_finding,,INSP-1,
D-0500,,2026-11-29T10:00:00Z,random,finding,salw,INSP-2,rifle parts
NOPE-1,1,2026-11-29T09:00:00Z,risk,no_finding,,INSP-1,
D-0500,7,2026-11-29T09:00:00Z,risk,no_finding,,INSP-1,
D-0500,1,2026-11-27T09:00:00Z,manual,no_finding,,INSP-1,
D-0500,1,2026-11-29T11:00:00Z,risk,finding,,INSP-3,
D-0500,1,2026-11-29T12:00:00Z,luck,no_finding,,INSP-3,
"""
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(environ={}, home=tmp_path / "home")
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True)
    shutil.copy(FIXTURES / "amendments.csv", landing / "amendments.csv")
    ingest_landing(settings, now=datetime(2026, 11, 29, 1, tzinfo=UTC))
    stage_declarations(settings, date(2026, 11, 28))
    return settings


def test_good_outcomes_are_staged_and_bad_ones_quarantined(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "outcomes.csv"
    source.write_text(OUTCOMES_CSV)
    report = import_outcome_files([source], settings)
    staged = pl.read_parquet(staged_outcomes_file(settings, date(2026, 11, 29)))
    assert sorted(staged["inspector_id"]) == ["INSP-1", "INSP-2"]
    assert report.imported == {"outcomes.csv": 2}
    (quarantined,) = (settings.zone("quarantine") / "outcomes").glob("outcomes-*.parquet")
    quarantine = pl.read_parquet(quarantined)
    assert sorted(zip(quarantine["_line"], quarantine["field"], strict=True)) == [
        (4, "declaration_id"),
        (5, "item_no"),
        (6, "inspected_at"),
        (7, "finding_category"),
        (8, "selection_reason"),
    ]
    assert set(quarantine["reason"]) >= {
        "declaration not found in staging",
        "item not found in the declaration",
        "inspected before the declaration was filed",
    }


def test_rejects_of_two_files_of_the_same_name_both_survive(
    settings: Settings, tmp_path: Path
) -> None:
    # Two days' exports, both called outcomes.csv, each with its own unknown declaration.
    monday, tuesday = tmp_path / "monday", tmp_path / "tuesday"
    for folder, unknown in ((monday, "NOPE-1"), (tuesday, "NOPE-2")):
        folder.mkdir()
        (folder / "outcomes.csv").write_text(
            HEADER + f"\n{unknown},1,2026-11-29T09:00:00Z,risk,no_finding,,INSP-1\n"
        )
    import_outcome_files([monday / "outcomes.csv"], settings)
    import_outcome_files([tuesday / "outcomes.csv"], settings)
    files = sorted((settings.zone("quarantine") / "outcomes").glob("outcomes-*.parquet"))
    assert len(files) == 2
    rejected = pl.concat([pl.read_parquet(f) for f in files])
    assert sorted(rejected["value"]) == ["NOPE-1", "NOPE-2"]


def test_the_same_file_is_imported_once(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "outcomes.csv"
    source.write_text(OUTCOMES_CSV)
    import_outcome_files([source], settings)
    again = import_outcome_files([source], settings)
    assert again.skipped == ["outcomes.csv"] and again.imported == {}
    assert pl.read_parquet(staged_outcomes_file(settings, date(2026, 11, 29))).height == 2
