"""Versioned store of loaded watch lists under the `watchlists` zone.

Layout: `<zone>/<list>/<version>/entries.parquet` (one row per listed name) with `manifest.json`
(list, version, entry and name counts, source files with SHA-256, notes), and `<list>/current.json`
naming the version in force. A version is written whole or not at all; loading an older version
than the one in force stores it (for diffs) without replacing the one in force.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipelines import audit_trail
from pipelines.io import atomic_directory, file_sha256, write_parquet, write_text
from pipelines.settings import Settings
from pipelines.watchlists.entries import (
    ENTRY_SCHEMA,
    LoadedList,
    WatchlistError,
    check_list_name,
    check_version,
)

ENTRIES_FILE = "entries.parquet"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "current.json"


def list_folder(settings: Settings, list_name: str) -> Path:
    """Folder holding every stored version of one list."""
    return settings.zone("watchlists") / check_list_name(list_name)


def store_list(
    loaded: LoadedList, settings: Settings, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Store a parsed list as a version; make it current unless a newer one is in force.

    `extra` adds manifest fields a loader knows beyond the common ones (a partner list's
    provenance and expiry, pipelines/alerts/inbound.py).
    """
    folder = list_folder(settings, loaded.list_name)
    version = check_version(loaded.version)
    manifest: dict[str, Any] = {
        "list": loaded.list_name,
        "version": version,
        "entry_count": loaded.entry_count,
        "name_count": loaded.entries.height,
        "sources": [{"file": p.name, "sha256": file_sha256(p)} for p in loaded.sources],
        "notes": loaded.notes,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    with atomic_directory(folder / version) as tmp:
        write_parquet(loaded.entries, tmp / ENTRIES_FILE)
        write_text(json.dumps(manifest, indent=2) + "\n", tmp / MANIFEST_FILE)
    in_force = current_version(settings, loaded.list_name)
    if in_force is None or version >= in_force:
        pointer = json.dumps({"list": loaded.list_name, "version": version}) + "\n"
        write_text(pointer, folder / CURRENT_FILE)
        in_force = version
    audit_trail.record_action(settings, audit_trail.WATCHLIST_LOAD, f"{loaded.list_name}/{version}")
    return {**manifest, "in_force": in_force == version}


def current_version(settings: Settings, list_name: str) -> str | None:
    """The version in force of a list, or None when none was loaded."""
    pointer = list_folder(settings, list_name) / CURRENT_FILE
    if not pointer.exists():
        return None
    version: str = json.loads(pointer.read_text(encoding="utf-8"))["version"]
    return version


def stored_lists(settings: Settings) -> list[str]:
    """Names of the lists with at least one stored version."""
    zone = settings.zone("watchlists")
    if not zone.exists():
        return []
    return sorted(p.name for p in zone.iterdir() if p.is_dir() and (p / CURRENT_FILE).exists())


def manifests(settings: Settings) -> list[dict[str, Any]]:
    """Manifest of every stored version, with `in_force` set on the current ones."""
    found: list[dict[str, Any]] = []
    for list_name in stored_lists(settings):
        in_force = current_version(settings, list_name)
        for manifest_path in sorted(list_folder(settings, list_name).glob(f"*/{MANIFEST_FILE}")):
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            found.append({**manifest, "in_force": manifest["version"] == in_force})
    return found


def read_entries(settings: Settings, list_name: str, version: str | None = None) -> pl.DataFrame:
    """Entries of one list version (the one in force when `version` is None)."""
    chosen = version or current_version(settings, list_name)
    if chosen is None:
        raise WatchlistError(f"list {list_name!r} has no loaded version")
    path = list_folder(settings, list_name) / check_version(chosen) / ENTRIES_FILE
    if not path.exists():
        raise WatchlistError(f"list {list_name!r} has no stored version {chosen}")
    return pl.read_parquet(path)


def entries_in_force(settings: Settings) -> pl.DataFrame:
    """Entries of every list's version in force, together (empty when nothing is loaded)."""
    frames = [read_entries(settings, name) for name in stored_lists(settings)]
    if not frames:
        return pl.DataFrame(schema=ENTRY_SCHEMA)
    return pl.concat(frames, how="vertical")
