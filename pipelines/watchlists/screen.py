"""Stage: screen the parties of declarations against every watch list in force.

Output grain: one row per (declaration_id, item_no, party_role, list entry) hit, with the list
version, the listed name that matched, the score and a reason naming the entry, e.g.
"consignee matches UN QDe.004 'AL-QAIDA' (0.94; name 0.94)". The nightly run turns these into a
feature and a forced-red reason.

Cleared matches (`pipelines.watchlists.clearances`): a hit whose party and entry an officer has
cleared as false, both unchanged since, stays in the output with `cleared` true and `hold`
false; the screen stage leaves it out of the hits the selection reads and counts it as suppressed.

The screen stage (`screen_stage`) runs beside the score and rules stages and writes
`scores/date=D/watchlist_hits.parquet`; the select stage reads it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from features.screening import (
    DEFAULT_THRESHOLD,
    WatchlistIndex,
    build_hits,
    score_party_names,
)
from pipelines import layout
from pipelines.io import write_parquet
from pipelines.settings import Settings
from pipelines.watchlists import clearances as clearance_store
from pipelines.watchlists.index_cache import cached_index

ROLES = ("shipper", "consignee")
DECLARATION_COLUMNS = (
    "declaration_id",
    "item_no",
    *(f"{role}_{part}" for role in ROLES for part in ("name", "country", "id")),
)
"""The only declaration columns screening reads (the ids only key clearances)."""
DECLARATION_HIT_SCHEMA: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "party_role": pl.String(),
    "party_name": pl.String(),
    "party_country": pl.String(),
    "list_name": pl.String(),
    "list_version": pl.String(),
    "entry_id": pl.String(),
    "matched_name": pl.String(),
    "score": pl.Float64(),
    "evidence": pl.String(),
    "reason": pl.String(),
    "entry_type": pl.String(),
    "hold": pl.Boolean(),
    "party_id": pl.String(),
    "entry_fingerprint": pl.String(),
    "party_fingerprint": pl.String(),
    "cleared": pl.Boolean(),
    "clearance_id": pl.Int64(),
}
"""entry_type: individual, entity or unknown (vessels and aircraft are never screened against
parties). hold: whether the hit is a mandatory hold; false for a list name weak by shape (one
distinctive word or short, or mostly trade words) without an exact name and country match, and
false for a cleared match. cleared / clearance_id: an officer cleared this party and entry as a
false match (`pipelines.watchlists.clearances`)."""


def index_in_force(settings: Settings) -> WatchlistIndex:
    """A screening index over every list's version in force (cached on disk per version)."""
    return cached_index(settings)


def party_names(declarations: pl.DataFrame) -> list[str]:
    """The shipper names, then the consignee names, of `declarations` in row order (a null name
    as ""): the parties `screen_declarations` screens, in the order it builds them."""
    names: list[str] = []
    for role in ROLES:
        column = declarations.get_column(f"{role}_name").cast(pl.String)
        names.extend(name or "" for name in column.to_list())
    return names


def screen_declarations(
    declarations: pl.DataFrame,
    settings: Settings,
    threshold: float = DEFAULT_THRESHOLD,
    index: WatchlistIndex | None = None,
    clearances: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Watch-list hits of the shipper and consignee of each declaration item, with the given
    clearances applied (default: the active ones in the export).

    The party names are scored first, straight from the columns (`score_party_names`); when no
    name is near a listed one (most calls of the assessment service, which calls this too) the
    empty result is returned before any party frame is built.
    """
    index = index if index is not None else index_in_force(settings)
    if clearances is None:
        clearances = clearance_store.active(clearance_store.read_export(settings))
    if index.rows.is_empty() or declarations.height == 0:
        return pl.DataFrame(schema=DECLARATION_HIT_SCHEMA)
    scores = score_party_names(party_names(declarations), index, threshold)
    if not scores.near:
        return pl.DataFrame(schema=DECLARATION_HIT_SCHEMA)

    def party_id(role: str) -> pl.Expr:
        column = f"{role}_id"
        present = column in declarations.columns
        return (pl.col(column).cast(pl.String) if present else pl.lit(None, pl.String)).alias(
            "party_id"
        )

    parties = pl.concat(
        [
            declarations.select(
                "declaration_id",
                pl.col("item_no").cast(pl.Int64),
                pl.lit(role).alias("party_role"),
                pl.col(f"{role}_name").cast(pl.String).alias("party_name"),
                pl.col(f"{role}_country").cast(pl.String).alias("party_country"),
                party_id(role),
            )
            for role in ROLES
        ]
    ).with_columns(
        party_key=pl.concat_str(
            [pl.col("party_name").fill_null(""), pl.col("party_country").fill_null("")],
            separator="\x1f",
        )
    )
    # In the parties' order, as `party_names` lists the names the scores were taken over;
    # `build_hits` takes each party once.
    hits = build_hits(
        parties.select(
            "party_key",
            pl.col("party_name").alias("name"),
            pl.col("party_country").alias("country"),
        ),
        scores,
        index,
    )
    if hits.is_empty():
        # Nothing to join, fingerprint or clear: the frame the steps below would end with.
        return pl.DataFrame(schema=DECLARATION_HIT_SCHEMA)
    joined = parties.join(hits, on="party_key", how="inner")
    fingerprints = index.entry_fingerprints
    joined = joined.with_columns(
        entry_fingerprint=pl.struct("list_name", "entry_id").map_elements(
            lambda e: fingerprints.get((e["list_name"], e["entry_id"]), ""), pl.String
        ),
        party_fingerprint=pl.struct("party_name", "party_country", "party_id").map_elements(
            lambda p: clearance_store.party_fingerprint(
                p["party_name"], p["party_country"], p["party_id"]
            ),
            pl.String,
        ),
    )
    return (
        joined.with_columns(
            reason=pl.format(
                "{} matches {} {} '{}' ({}; {})",
                "party_role",
                pl.col("list_name").str.to_uppercase(),
                "entry_id",
                "matched_name",
                pl.col("score").round(2).cast(pl.String).str.pad_end(4, "0"),
                "evidence",
            )
        )
        .pipe(clearance_store.apply, clearances)
        .select(list(DECLARATION_HIT_SCHEMA))
        .cast(DECLARATION_HIT_SCHEMA)  # type: ignore[arg-type]
        .sort(
            ["declaration_id", "item_no", "party_role", "score"],
            descending=[False, False, False, True],
        )
    )


def screen_day(
    settings: Settings,
    day: date,
    threshold: float | None = None,
    index: WatchlistIndex | None = None,
) -> pl.DataFrame:
    """Watch-list hits of the day's staged declarations (threshold from the settings by default).

    Reads only the key and party columns of the staging partition, not the whole file.
    """
    path = layout.staged_declarations_file(settings, day)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing for {day}; run the validate stage first")
    schema = pl.read_parquet_schema(path)
    # Staging written before the ids were read still screens (its clearances key on no id).
    columns = [c for c in DECLARATION_COLUMNS if c in schema or not c.endswith("_id")]
    declarations = pl.read_parquet(path, columns=columns)
    chosen = settings.watchlist_threshold if threshold is None else threshold
    return screen_declarations(declarations, settings, chosen, index)


class NoWatchlistError(RuntimeError):
    """No watch list is in force: screening would find nothing, night after night."""


def lists_in_force(settings: Settings) -> dict[str, str]:
    """List name -> version in force; `NoWatchlistError` when there is none.

    A home without lists would screen against nothing and report no hit, night after night,
    which reads like a clean night. Loading the shipped copies silently instead would screen
    against lists years old; the operator must choose, so the night stops and says how.
    """
    from pipelines.watchlists.store import current_version, stored_lists

    found = {name: current_version(settings, name) for name in stored_lists(settings)}
    lists = {name: version for name, version in found.items() if version is not None}
    if not lists:
        raise NoWatchlistError(
            f"{settings.zone('watchlists')}: no watch list in force, so screening would find "
            "nothing; load your lists (cargo-risk watchlists load un|ofac|national ...) or the "
            "shipped copies (cargo-risk watchlists load-shipped), then run the night again"
        )
    return lists


def screen_stage(settings: Settings, day: date) -> dict[str, Any]:
    """The screen stage: the day's hits not cleared, written where the select stage reads them."""
    lists = lists_in_force(settings)
    screened = screen_day(settings, day)
    watch_hits = hits_not_cleared(screened)
    write_parquet(watch_hits, layout.scores_dir(settings, day) / layout.WATCHLIST_HITS_FILE)
    return {
        "watchlist_hits": watch_hits.height,
        "watchlist_suppressed": screened.height - watch_hits.height,
        "watchlists": lists,
    }


def hits_not_cleared(screened: pl.DataFrame) -> pl.DataFrame:
    """The hits the select stage reads: cleared ones left out, in key order."""
    from pipelines.select import WATCHLIST_HIT_EXTRAS, WATCHLIST_HITS_SCHEMA

    # A match an officer cleared as false (party and entry unchanged) neither holds nor lifts.
    return (
        screened.filter(~pl.col("cleared"))
        .select(*WATCHLIST_HITS_SCHEMA, *WATCHLIST_HIT_EXTRAS)
        .sort("declaration_id", "item_no", "entry_id")
    )
