"""Lineage of a published list: the run, model, rules, watch lists and input files behind it.

Every row of a ranked list carries its `run_id` and `model_version`; the rest of what made it is
the same for every row of a run, so it is written once per publication as `lineage.json` beside
the list (and kept with each list version), not repeated in thousands of rows (decision 0027).
The file names the rule-set version (a digest of the rule files in force), the watch-list
versions in force and the SHA-256 of every input file the night read, so an auditor can check
that the files still on disk are the ones the list came from.

It also records which model scored a date, so a rerun of that date uses the same model unless
the operator names another (`cargo-risk run --model`, the DAG conf `{"model": ...}`): after a
promotion, rescoring an old date with a model trained on that date's outcomes would leak them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from pipelines import layout
from pipelines.io import file_sha256
from pipelines.settings import Settings

LINEAGE_VERSION = 1


def rule_files(settings: Settings) -> list[Path]:
    """The rule files the rules stage reads, as `evaluate_rules_day` chooses them."""
    from pipelines.rules import starter_rules_dir

    roots = list(settings.rules_dirs) or [starter_rules_dir()]
    partner = layout.partner_rules_dir(settings)
    if partner.is_dir():
        roots.append(partner)
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files.extend(sorted(p for p in root.iterdir() if p.suffix in {".yaml", ".yml"}))
        elif root.is_file():
            files.append(root)
    return files


def rule_set_version(settings: Settings) -> str:
    """A digest of the names and contents of the rule files in force: equal sets, equal versions."""
    digest = hashlib.sha256()
    for path in rule_files(settings):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return f"rules-{digest.hexdigest()[:12]}"


def input_files(settings: Settings, day: date) -> dict[str, Path]:
    """Every file the night of `day` read or wrote on the way to its list, by a stable name."""
    home = settings.home
    found: list[Path] = []
    raw = layout.partition(layout.raw_declarations(settings), day)
    if raw.is_dir():
        found.extend(sorted(raw.glob("*.parquet")))
    for path in (
        layout.staged_declarations_file(settings, day),
        layout.features_file(settings, day),
    ):
        if path.is_file():
            found.append(path)
    found.extend(sorted(layout.scores_dir(settings, day).glob("*.parquet")))
    return {str(path.relative_to(home)): path for path in found}


def run_lineage(
    settings: Settings,
    day: date,
    run_id: str,
    model_versions: list[str],
    watchlists: dict[str, str],
) -> dict[str, Any]:
    """The lineage record of one publication of `day`'s lists."""
    return {
        "lineage_version": LINEAGE_VERSION,
        "list_date": day.isoformat(),
        "run_id": run_id,
        "model_versions": sorted(model_versions),
        "rule_set_version": rule_set_version(settings),
        "rule_files": [p.name for p in rule_files(settings)],
        "watchlists": dict(sorted(watchlists.items())),
        "inputs": {name: file_sha256(path) for name, path in input_files(settings, day).items()},
    }


def recorded_model(settings: Settings, day: date) -> str | None:
    """The model that scored the current published list of `day`, or None if none was published."""
    folder = layout.lists_dir(settings, day)
    lineage = folder / layout.LIST_LINEAGE_FILE
    if lineage.is_file():
        versions = json.loads(lineage.read_text(encoding="utf-8")).get("model_versions") or []
    elif (folder / layout.LIST_FILE).is_file():  # published before lineage was kept
        ranked = pl.read_parquet(folder / layout.LIST_FILE, columns=["model_version"])
        versions = ranked["model_version"].unique().drop_nulls().to_list()
    else:
        return None
    return str(versions[0]) if len(versions) == 1 else None
