"""Rule and watch-list hit frames for the selection tests, in the stage's schemas."""

from __future__ import annotations

import polars as pl

from features.rules import HITS_SCHEMA
from pipelines.select import WATCHLIST_HIT_EXTRAS, WATCHLIST_HITS_SCHEMA


def rule_hits(rows: list[tuple[str, str, float, bool]]) -> pl.DataFrame:
    """One SALW hit per (declaration_id, rule_id, weight, force_red), on item 1."""
    return pl.DataFrame(
        {
            "declaration_id": [r[0] for r in rows],
            "item_no": [1] * len(rows),
            "rule_id": [r[1] for r in rows],
            "threat": ["salw"] * len(rows),
            "weight": [r[2] for r in rows],
            "force_red": [r[3] for r in rows],
            "title": [f"title of {r[1]}" for r in rows],
        },
        schema=HITS_SCHEMA,
    )


def watch_hits(ids: list[str], *, hold: bool = True, score: float = 1.0) -> pl.DataFrame:
    """One UN-list hit of an entity on item 1 of each declaration in `ids`."""
    return pl.DataFrame(
        {
            "declaration_id": ids,
            "item_no": [1] * len(ids),
            "entry_id": [f"QDi.{i}" for i in range(len(ids))],
            "list_name": ["un"] * len(ids),
            "reason": [f"consignee matches UN QDi.{i}" for i in range(len(ids))],
            "hold": [hold] * len(ids),
            "score": [score] * len(ids),
            "entry_type": ["entity"] * len(ids),
        },
        schema={**WATCHLIST_HITS_SCHEMA, **WATCHLIST_HIT_EXTRAS},
    )
