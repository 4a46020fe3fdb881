"""On-disk cache of the screening index over the lists in force.

Building the index normalises every listed name (~25 k) and costs about a second of CPU, the
whole fixed cost of screening a small night. The index only changes when a list version or the
screening code changes, so it is kept under `<watchlists zone>/_index/` as one file per
fingerprint of both; a night whose fingerprint matches loads it instead. Grain: one file per
(entries in force, screening code, Python and Polars version); only the newest is kept.

Unpickling the index costs about 0.7 s, and a night in one process (`run_night`, the tests, a
backfill) screens once per port: the last file loaded stays in memory, keyed by its path, size
and modification time, so a process loads it once while the file is unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
from importlib import metadata
from pathlib import Path

import polars as pl

import features.names
import features.screening
from features.screening import WatchlistIndex, build_index
from pipelines.io import atomic_path, file_sha256
from pipelines.settings import Settings
from pipelines.watchlists.store import (
    ENTRIES_FILE,
    current_version,
    entries_in_force,
    list_folder,
    stored_lists,
)

log = logging.getLogger(__name__)

_in_memory: dict[tuple[Path, int, int], WatchlistIndex] = {}
"""The last index loaded or built in this process, keyed by its file's path, size and mtime."""

INDEX_FOLDER = "_index"
SUFFIX = ".pickle"
_CODE = (features.names, features.screening)
"""Modules whose logic shapes the index: a change to either makes a cached index stale (so
leaving vessels out, or keeping entry types in the index, gave a new fingerprint)."""


_NORMALISING_LIBRARIES = ("anyascii", "rapidfuzz")


def index_fingerprint(settings: Settings) -> str:
    """A digest of everything the index is built from: each list's version in force and its
    entries file, the screening code, the Python and Polars versions (pickle format), and the
    versions of the libraries that normalise names (an upgrade may spell a name otherwise)."""
    digest = hashlib.sha256()
    for list_name in stored_lists(settings):
        version = current_version(settings, list_name) or ""
        entries = list_folder(settings, list_name) / version / ENTRIES_FILE
        sha = file_sha256(entries) if entries.is_file() else "missing"
        digest.update(f"{list_name}|{version}|{sha}\n".encode())
    for module in _CODE:
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(f"{sys.version_info[:3]}|{pl.__version__}".encode())
    digest.update("|".join(metadata.version(name) for name in _NORMALISING_LIBRARIES).encode())
    return digest.hexdigest()[:24]


def cache_folder(settings: Settings) -> Path:
    """Where cached indexes live (beside the lists, never mistaken for one: no current.json)."""
    return settings.zone("watchlists") / INDEX_FOLDER


def cached_index(settings: Settings) -> WatchlistIndex:
    """The index over every list's version in force: loaded when cached, else built and kept.

    A cache file that cannot be read is rebuilt (and a home that cannot be written to still
    screens, just without keeping the index).
    """
    path = cache_folder(settings) / f"{index_fingerprint(settings)}{SUFFIX}"
    if path.is_file():
        key = _file_key(path)
        held = _in_memory.get(key) if key else None
        if held is not None:
            return held
        loaded = _load(path)
        if loaded is not None:
            _hold(path, loaded)
            return loaded
    index = build_index(entries_in_force(settings))
    try:
        _store(index, path)
    except OSError as exc:
        log.warning("screening index not cached at %s: %s", path, exc)
    else:
        _hold(path, index)
    return index


def _file_key(path: Path) -> tuple[Path, int, int] | None:
    try:
        stat = path.stat()
    except OSError:  # removed meanwhile by a night that stored a newer index
        return None
    return path, stat.st_size, stat.st_mtime_ns


def _hold(path: Path, index: WatchlistIndex) -> None:
    """Keep `index` as the one in memory (a new fingerprint replaces the old one)."""
    _in_memory.clear()
    key = _file_key(path)
    if key:
        _in_memory[key] = index


def _load(path: Path) -> WatchlistIndex | None:
    try:
        # Written only by `_store` into the data home, under a name fixed by its contents.
        loaded = pickle.loads(path.read_bytes())
    except Exception as exc:  # any unreadable cache is rebuilt, never trusted half-way
        log.warning("%s: cached screening index unreadable (%s); rebuilding it", path, exc)
        return None
    if not isinstance(loaded, WatchlistIndex):
        log.warning("%s: not a screening index; rebuilding it", path)
        return None
    return loaded


def _store(index: WatchlistIndex, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
    for stale in path.parent.glob(f"*{SUFFIX}"):
        if stale != path:
            stale.unlink(missing_ok=True)
