"""Cleared watch-list matches as the screen stage sees them: fingerprints, the export, applying.

An officer who clears a match as false records it in the inspector app (or `cargo-risk watchlists
clear`); the app's database holds every clearance and its withdrawal, audited. Each change also
rewrites one export file, `<watchlists zone>/_clearances/clearances.parquet` (grain: one row per
clearance ever made, withdrawn ones included, with when it was made and withdrawn). The screen
stage reads only that file: it needs no database driver or app schema, a test writes it in one
line, and it is an input of the night like any other file.

A clearance is keyed on (list, entry id, entry fingerprint, party fingerprint). The entry
fingerprint digests the entry's content in the list version in force (`entry_fingerprints` in
`features.screening`): a changed name, alias, country or address makes it another entry. The party
fingerprint digests the party's name as filed (case and spacing aside), its country and its
registry id (the declarations contract has no party address, so the id stands in for it): any
change makes it another party. Either change brings the hold back.

A night applies the clearances active when it runs (not those in force on the filing date: an
exercise replaying past dates must see today's clearances). The export is an input of the night
like the declarations: a rerun after a clearance or a withdrawal gives another hits file, hence
another run id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from pipelines.io import write_parquet
from pipelines.settings import Settings

CLEARANCES_FOLDER = "_clearances"
CLEARANCES_FILE = "clearances.parquet"
CLEARANCE_SCHEMA: dict[str, pl.DataType] = {
    "clearance_id": pl.Int64(),
    "list_name": pl.String(),
    "entry_id": pl.String(),
    "entry_fingerprint": pl.String(),
    "party_fingerprint": pl.String(),
    "party_name": pl.String(),
    "party_country": pl.String(),
    "party_id": pl.String(),
    "reason": pl.String(),
    "cleared_by": pl.String(),
    "cleared_at": pl.Datetime("us", "UTC"),
    "withdrawn_by": pl.String(),
    "withdrawn_at": pl.Datetime("us", "UTC"),
}


def party_fingerprint(name: str | None, country: str | None, party_id: str | None) -> str:
    """A digest of a party's details: name as filed (case and spacing aside), country, id."""
    content = json.dumps(
        [" ".join((name or "").casefold().split()), (country or "").upper(), party_id or ""],
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:24]


def export_path(settings: Settings) -> Path:
    """Where the app writes the clearances and the screen stage reads them."""
    return settings.zone("watchlists") / CLEARANCES_FOLDER / CLEARANCES_FILE


def write_export(settings: Settings, rows: Sequence[Mapping[str, object]]) -> Path:
    """Replace the export with these clearances (atomic: a night reads the old or the new)."""
    frame = pl.DataFrame(rows, schema=CLEARANCE_SCHEMA) if rows else empty()
    return write_parquet(frame.sort("clearance_id"), export_path(settings))


def empty() -> pl.DataFrame:
    """No clearances."""
    return pl.DataFrame(schema=CLEARANCE_SCHEMA)


def read_export(settings: Settings) -> pl.DataFrame:
    """Every clearance in the export (none when the app never wrote one)."""
    path = export_path(settings)
    if not path.is_file():
        return empty()
    frame = pl.read_parquet(path)
    missing = [c for c in CLEARANCE_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: clearances export lacks column(s): {', '.join(missing)}")
    return frame.select(list(CLEARANCE_SCHEMA)).cast(CLEARANCE_SCHEMA)  # type: ignore[arg-type]


def active(clearances: pl.DataFrame) -> pl.DataFrame:
    """The clearances not withdrawn."""
    return clearances.filter(pl.col("withdrawn_at").is_null())


def apply(hits: pl.DataFrame, clearances: pl.DataFrame) -> pl.DataFrame:
    """Mark hits whose (list, entry, entry fingerprint, party fingerprint) has a clearance:
    `cleared` true, `clearance_id` set, `hold` false and the reason saying who cleared it.

    `hits` needs list_name, entry_id, entry_fingerprint, party_fingerprint, hold and reason."""
    key = ["list_name", "entry_id", "entry_fingerprint", "party_fingerprint"]
    # One clearance per key: the newest, should the app ever hold two.
    chosen = (
        clearances.sort("clearance_id", descending=True)
        .unique(key, keep="first")
        .select(*key, "clearance_id", "cleared_by")
    )
    marked = hits.join(chosen, on=key, how="left", nulls_equal=False)
    cleared = pl.col("clearance_id").is_not_null()
    return marked.with_columns(
        cleared=cleared,
        hold=pl.col("hold") & ~cleared,
        reason=pl.when(cleared)
        .then(
            pl.format(
                "{}; cleared as false by {} (clearance {})",
                "reason",
                "cleared_by",
                "clearance_id",
            )
        )
        .otherwise(pl.col("reason")),
    ).drop("cleared_by")
