"""The storage layout: which table lives where under the data home, its date partitions and listing.

Every zone is a folder of the home (`Settings.zone`); a table is a folder of a zone, partitioned
Hive-style by date (`<table>/date=YYYY-MM-DD/<file>`, decision 0001). Stages ask this module for
a path instead of spelling `date=...` themselves, so the layout is defined once.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.settings import Settings

PARTITION_KEY = "date"
"""The Hive partition column: folders are named `date=YYYY-MM-DD`."""
PARTITION_GLOB = f"{PARTITION_KEY}=*"
"""Glob matching every date partition of a table."""
_PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")

DECLARATIONS_FILE = "declarations.parquet"
OUTCOMES_FILE = "outcomes.parquet"
FEATURES_FILE = "features.parquet"
SCORES_FILE = "scores.parquet"
RULE_HITS_FILE = "rule_hits.parquet"
WATCHLIST_HITS_FILE = "watchlist_hits.parquet"
SELECTION_FILE = "selection.parquet"
LIST_FILE = "ranked_list.parquet"
LIST_CSV_FILE = "ranked_list.csv"
LIST_LINEAGE_FILE = "lineage.json"
LIST_VERSIONS_DIR = "versions"
"""Inside a lists partition: `versions/v=N/`, every list ever published for the date (decision
0027). The partition's own files are the current version, so readers need not know of versions."""
LIST_VERSION_FILE = "version.json"
_LIST_VERSION = re.compile(r"^v=(\d+)$")


def partition_name(day: date) -> str:
    """`date=YYYY-MM-DD`: the folder name of one day's partition."""
    return f"{PARTITION_KEY}={day.isoformat()}"


def partition(table: Path, day: date) -> Path:
    """The folder of `day`'s partition of `table` (not created here)."""
    return table / partition_name(day)


def partition_date(name: str) -> date | None:
    """The day a partition folder name stands for, or None for any other name."""
    match = _PARTITION.match(name)
    return date.fromisoformat(match.group(1)) if match else None


def partition_days(table: Path) -> list[date]:
    """Days with a partition folder in `table`, oldest first (none when `table` is missing)."""
    if not table.is_dir():
        return []
    found = (partition_date(p.name) for p in table.iterdir() if p.is_dir())
    return sorted(day for day in found if day is not None)


def partition_files(table: Path, file_name: str) -> list[tuple[date, Path]]:
    """(day, file) of every partition of `table` holding `file_name`, oldest first."""
    if not table.is_dir():
        return []
    found = []
    for child in table.iterdir():
        day = partition_date(child.name)
        if day is not None and (child / file_name).is_file():
            found.append((day, child / file_name))
    return sorted(found)


def files_until(table: Path, file_name: str, until: date) -> list[Path]:
    """`table/date=D/file_name` for every D <= `until` that has one, oldest first."""
    return [path for day, path in partition_files(table, file_name) if day <= until]


# Tables under the zones: the folder holding a table's date partitions.


def raw_declarations(settings: Settings) -> Path:
    """Every row received, as strings: `date=D/<sha256>.parquet`."""
    return settings.zone("raw") / "declarations"


def quarantine_declarations(settings: Settings) -> Path:
    """Rejected rows with their reasons: `date=D/<file-stem>-<8 hex of its path>.parquet`."""
    return settings.zone("quarantine") / "declarations"


def staged_declarations(settings: Settings) -> Path:
    """Contract-typed declarations, latest filing of the day: `date=D/declarations.parquet`."""
    return settings.zone("staging") / "declarations"


def staged_outcomes(settings: Settings) -> Path:
    """Inspections recorded per day: `date=D/outcomes.parquet`."""
    return settings.zone("staging") / "outcomes"


def snapshots(settings: Settings) -> Path:
    """Point-in-time history: `date=D/<entity>.parquet`, state as known before D."""
    return settings.zone("history") / "snapshots"


def features_table(settings: Settings) -> Path:
    """Model input per item: `date=D/features.parquet`."""
    return settings.zone("features")


def scores_table(settings: Settings) -> Path:
    """Scores, rule hits, watch-list hits and the selection of a night: `date=D/*.parquet`."""
    return settings.zone("scores")


def lists_table(settings: Settings) -> Path:
    """Published ranked lists: `date=D/ranked_list.parquet`, `.csv` and `html/`."""
    return settings.zone("lists")


def run_reports(settings: Settings) -> Path:
    """Per-night stage reports, run report and Airflow log: `date=D/...`."""
    return settings.zone("reports") / "runs"


def alerts_home(settings: Settings) -> Path:
    """Partner alert exchange: own keys, trusted partners, imported bundles, derived rules."""
    return settings.zone("alerts")


def alerts_landing(settings: Settings) -> Path:
    """Alert bundles received from partners, waiting to be imported (`*.json`)."""
    return settings.zone("landing") / "alerts"


def alerts_outbox(settings: Settings) -> Path:
    """Signed alert bundles for partners: `<partner>/<bundle_id>.json`."""
    return settings.zone("outbox") / "alerts"


def alerts_quarantine(settings: Settings) -> Path:
    """Refused partner bundles, each with a `.reason.txt` holding its one-line reason."""
    return settings.zone("quarantine") / "alerts"


def partner_rules_dir(settings: Settings) -> Path:
    """Rule YAML derived from partners' commodity and route indicators (rebuilt on import)."""
    return alerts_home(settings) / "rules"


def assessments_database(settings: Settings) -> Path:
    """Pre-loading assessments, their rejections, caller tokens and audit: one SQLite file."""
    return settings.zone("assessments") / "assessments.sqlite"


# One day's files.


def staged_declarations_file(settings: Settings, day: date) -> Path:
    """Staging partition of the declarations filed on `day`."""
    return partition(staged_declarations(settings), day) / DECLARATIONS_FILE


def staged_outcomes_file(settings: Settings, day: date) -> Path:
    """Staging partition of the inspections made on `day`."""
    return partition(staged_outcomes(settings), day) / OUTCOMES_FILE


def snapshot_dir(settings: Settings, day: date) -> Path:
    """History snapshot holding every entity's state as known before `day`."""
    return partition(snapshots(settings), day)


def features_file(settings: Settings, day: date) -> Path:
    """Features partition of the items filed on `day`."""
    return partition(features_table(settings), day) / FEATURES_FILE


def scores_dir(settings: Settings, day: date) -> Path:
    """The night's scores partition (scores, rule and watch-list hits, selection)."""
    return partition(scores_table(settings), day)


def scores_file(settings: Settings, day: date) -> Path:
    """Model scores of the items filed on `day`."""
    return scores_dir(settings, day) / SCORES_FILE


def lists_dir(settings: Settings, day: date) -> Path:
    """The published lists of `day`."""
    return partition(lists_table(settings), day)


def list_version_dir(partition_dir: Path, version: int) -> Path:
    """Where version `version` (1 = first published) of a lists partition is kept."""
    return partition_dir / LIST_VERSIONS_DIR / f"v={version}"


def list_versions(partition_dir: Path) -> list[int]:
    """Version numbers kept in a lists partition, oldest first (none for a missing one)."""
    folder = partition_dir / LIST_VERSIONS_DIR
    if not folder.is_dir():
        return []
    found = (_LIST_VERSION.match(p.name) for p in folder.iterdir() if p.is_dir())
    return sorted(int(match.group(1)) for match in found if match)


def run_report_dir(settings: Settings, day: date) -> Path:
    """The night's stage reports, run report and Airflow log."""
    return partition(run_reports(settings), day)
