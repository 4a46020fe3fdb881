"""Forced watch-list holds on a simulated world: how many are false, by the world's truth.

Run: `CARGO_RISK_HOME=/tmp/w .venv/bin/cargo-risk simulate --days 90 --per-day 2000
--threat-rate 0.01 [--seed 7]`, then
`PYTHONPATH=$PWD .venv/bin/python -m benchmarks.screening_world /tmp/w /tmp/lists`.
Every day's landing declarations (latest row per item) are screened against the shipped lists,
stored under the second folder as `watchlists load-shipped` would. A held item is true when a
held party is one of the planted parties of the `watchlist-party-variant` scenario (the
shippers of its items, cover items of the same shipper included). Only this measurement reads
the world's truth; a benchmark, not a stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from pipelines.settings import load_settings
from pipelines.watchlists.screen import index_in_force, screen_declarations
from pipelines.watchlists.shipped import load_shipped

SCENARIO = "watchlist-party-variant"
COLUMNS = [
    "declaration_id", "item_no", "shipper_name", "shipper_country", "shipper_id",
    "consignee_name", "consignee_country", "consignee_id",
]  # fmt: skip


def main() -> None:
    """Screen the world's days and print held / false-held items and planted items found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("world", type=Path, help="home folder the simulator wrote")
    parser.add_argument("lists", type=Path, help="home folder for the shipped lists")
    args = parser.parse_args()
    settings = load_settings(environ={}, home=args.lists)
    if not (args.lists / "watchlists").exists():
        load_shipped(settings)
    index = index_in_force(settings)
    days: list[pl.DataFrame] = []
    hits: list[pl.DataFrame] = []
    for path in sorted((args.world / "landing" / "declarations").glob("*.csv")):
        raw = pl.read_csv(path, infer_schema=False, columns=COLUMNS)
        raw = raw.filter(pl.col("item_no").str.contains(r"^\d+$")).with_columns(
            pl.col("item_no").cast(pl.Int64)
        )
        raw = raw.unique(["declaration_id", "item_no"], keep="last", maintain_order=True)
        days.append(raw)
        hits.append(screen_declarations(raw, settings, index=index))
    declarations, found = pl.concat(days), pl.concat(hits)
    truth = pl.read_parquet(args.world / "truth" / "ground_truth.parquet")
    planted = truth.filter(pl.col("scenario") == SCENARIO).select("declaration_id", "item_no")
    names = declarations.join(planted, on=["declaration_id", "item_no"])["shipper_name"]
    held = (
        found.filter("hold")
        .with_columns(true_party=pl.col("party_name").is_in(names.unique().implode()))
        .group_by("declaration_id", "item_no")
        .agg(pl.col("true_party").any())
    )
    false = held.filter(~pl.col("true_party")).height
    items = found.select("declaration_id", "item_no").unique()
    print(f"items with a watch-list hit: {items.height}")
    print(f"items held: {held.height}; false: {false} ({false / max(held.height, 1):.3f})")
    hit_planted = items.join(planted, on=["declaration_id", "item_no"]).height
    held_planted = held.join(planted, on=["declaration_id", "item_no"]).height
    print(f"planted {SCENARIO} items: {planted.height}; hit {hit_planted}; held {held_planted}")


if __name__ == "__main__":
    main()
