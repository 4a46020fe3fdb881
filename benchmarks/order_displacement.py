"""Which rows of the list's order pushed a planted threat out of a port's budget, and why.

For each built world of `benchmarks/detection.py`, each night and port, and each inspection
share (1/2/5 % of the port's items, rounded up), it compares the top of the published list
(`rank`) with the top by `risk_score` alone: a threat in the risk top but not in the rank top was
displaced, and the rows in the rank top but not in the risk top displaced it. Each displacing row
is shown with its lane, selection reason, slice, rule hits and watch-list evidence (hold, match
score, the screening's reason), and whether its declaration holds a planted threat (a watch-list
hold on such a declaration is a true match of the planted listed party). It also counts the
watch-list hits of every night: held items, held declarations, and those of a party that is not
planted (false holds).

    python -m benchmarks.order_displacement --homes /tmp/cargo-risk-detection-worlds

Reads `truth/`, like simulator/evaluate.py: a measurement, never an input of the pipeline.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from models.evaluation import inspected_count

KEY = ["declaration_id", "item_no"]
RATES = (0.01, 0.02, 0.05)


def budget(items: int, rate: float) -> int:
    """Items a port inspects at `rate`, counted as the detection harness counts them."""
    return inspected_count(items, rate)


def displacements(night: pl.DataFrame, rates: Sequence[float] = RATES) -> pl.DataFrame:
    """Per port and rate of one night's list (with `scenario` from the truth and `threat_decl`):
    each threat the rank top missed but the risk top held, and each row that took its place.

    Ties in risk are broken by rank, so a row is only called displacing when risk alone would
    really have left it out.
    """
    rows: list[pl.DataFrame] = []
    for _, items in night.group_by("port_of_discharge", maintain_order=True):
        by_risk = items.sort(["risk_score", "rank"], descending=[True, False]).with_row_index(
            "risk_pos", offset=1
        )
        part = items.join(by_risk.select(*KEY, "risk_pos"), on=KEY)
        for rate in rates:
            k = budget(part.height, rate)
            missed = part.filter(
                (pl.col("risk_pos") <= k) & (pl.col("rank") > k) & pl.col("scenario").is_not_null()
            )
            if missed.is_empty():
                continue
            took = part.filter((pl.col("rank") <= k) & (pl.col("risk_pos") > k))
            rows.append(
                pl.concat(
                    [
                        missed.with_columns(pl.lit("displaced threat").alias("role")),
                        took.with_columns(pl.lit("took its place").alias("role")),
                    ]
                ).with_columns(pl.lit(rate).alias("rate"), pl.lit(k).alias("budget"))
            )
    return pl.concat(rows) if rows else pl.DataFrame()


def _night(home: Path, day: str, threat_decls: pl.Series, truth: pl.DataFrame) -> pl.DataFrame:
    ranked = pl.read_parquet(home / "lists" / f"date={day}" / "ranked_list.parquet")
    watch_file = home / "scores" / f"date={day}" / "watchlist_hits.parquet"
    watch = pl.read_parquet(watch_file) if watch_file.is_file() else pl.DataFrame()
    if watch.height:
        evidence = watch.group_by(KEY).agg(
            pl.col("hold").any().alias("watch_hold"),
            pl.col("score").max().alias("watch_score"),
            pl.col("reason").first().alias("watch_reason"),
        )
        ranked = ranked.join(evidence, on=KEY, how="left")
    return ranked.join(truth, on=KEY, how="left").with_columns(
        pl.col("declaration_id").is_in(threat_decls.implode()).alias("threat_decl")
    )


def world_report(home: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(displacements of every night, watch-list hold counts) of one built world."""
    truth = (
        pl.read_parquet(home / "truth" / "ground_truth.parquet")
        .select(*KEY, "scenario")
        .unique(KEY)
    )
    threat_decls = truth.filter(pl.col("scenario").is_not_null())["declaration_id"].unique()
    moved: list[pl.DataFrame] = []
    holds: list[pl.DataFrame] = []
    for folder in sorted((home / "lists").glob("date=*")):
        day = folder.name.removeprefix("date=")
        night = _night(home, day, threat_decls, truth)
        found = displacements(night)
        if found.height:
            moved.append(found.with_columns(pl.lit(day).alias("night")))
        if "watch_hold" in night.columns:
            holds.append(night.filter(pl.col("watch_hold").is_not_null()))
    counts = (
        pl.concat(holds, how="diagonal_relaxed")
        .group_by("watch_hold")
        .agg(
            pl.len().alias("items"),
            pl.col("declaration_id").n_unique().alias("declarations"),
            pl.col("declaration_id").filter(~pl.col("threat_decl")).n_unique().alias("false"),
            pl.col("scenario").is_not_null().sum().alias("threat_items"),
        )
        .sort("watch_hold")
        if holds
        else pl.DataFrame()
    )
    return (pl.concat(moved, how="diagonal_relaxed") if moved else pl.DataFrame()), counts


def _line(row: dict[str, object]) -> str:
    watch = ""
    if row.get("watch_hold") is not None:
        watch = (
            f" | watch hold={row['watch_hold']} score={row['watch_score']:.2f}: "
            f"{row['watch_reason']}"
        )
    return (
        f"{row['night']} {row['port_of_discharge']} @{row['rate']:.0%} (top {row['budget']}): "
        f"{row['role']}: rank {row['rank']}, risk {row['risk_score']:.3f} (#{row['risk_pos']} by "
        f"risk), {row['lane']}/{row['selection_reason']}, rules {row['rule_hits']}, "
        f"threat {row['scenario']}, declaration holds a threat {row['threat_decl']}{watch}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=Path, required=True, help="the harness's world homes")
    args = parser.parse_args(argv)
    pl.Config.set_tbl_rows(200)
    pl.Config.set_tbl_width_chars(220)
    pl.Config.set_fmt_str_lengths(80)
    for home in sorted(p for p in args.homes.iterdir() if (p / "lists").is_dir()):
        moved, holds = world_report(home)
        print(f"## {home.name}")
        if holds.height:
            print("watch-list hits (hold true/false): items, declarations, false-party ones")
            print(holds)
        if moved.height:
            for row in moved.sort("night", "port_of_discharge", "rate", "role").iter_rows(
                named=True
            ):
                print(_line(row))
        else:
            print("no threat displaced: the list's order found every threat risk alone found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
