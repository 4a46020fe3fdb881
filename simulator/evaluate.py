"""Evaluation against the simulator's ground truth: did the night find the planted threats?

Grain of the result: one row per (threat category, method, inspection rate), where each port
inspects its own top share of its list. Methods: the models' calibrated scores, the expert rules
alone (summed weights of the rules that fired for that threat) and random selection (its expected
value). Only this evaluation reads `truth/`; no nightly stage does.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from contracts import threats
from models.evaluation import evaluate
from pipelines import layout
from pipelines.dates import date_range
from pipelines.io import write_text
from pipelines.settings import Settings

KEY = ["declaration_id", "item_no"]
RATES = (0.01, 0.05)
CATEGORIES = threats.NAMES


def evaluation_frame(settings: Settings, days: list[date]) -> pl.DataFrame:
    """Scores, rule weights per threat and planted labels of every item scored on `days`."""
    scores, rules = [], []
    for day in days:
        folder = layout.scores_dir(settings, day)
        if (folder / layout.SCORES_FILE).is_file():
            scores.append(pl.read_parquet(folder / layout.SCORES_FILE))
            if (folder / layout.RULE_HITS_FILE).is_file():
                rules.append(pl.read_parquet(folder / layout.RULE_HITS_FILE))
    if not scores:
        raise FileNotFoundError(f"no scores between {days[0]} and {days[-1]}: run the nights first")
    frame = pl.concat(scores, how="diagonal_relaxed")
    if rules:
        weights = (
            pl.concat(rules, how="diagonal_relaxed")
            .group_by(*KEY)
            .agg(
                (pl.col("weight") * (pl.col("threat") == category)).sum().alias(f"rules_{category}")
                for category in CATEGORIES
            )
        )
        frame = frame.join(weights, on=KEY, how="left")
    truth_file = settings.zone("truth") / "ground_truth.parquet"
    if not truth_file.is_file():
        raise FileNotFoundError(f"{truth_file}: no ground truth (only simulated worlds have one)")
    truth = (
        pl.read_parquet(truth_file)
        .group_by(*KEY)
        .agg(
            (pl.col("threat_category") == category).any().cast(pl.Int8).alias(f"truth_{category}")
            for category in CATEGORIES
        )
    )
    frame = frame.join(truth, on=KEY, how="left")
    fill = [f"{p}_{c}" for p in ("rules", "truth") for c in CATEGORIES]
    return frame.with_columns(
        pl.col(name).fill_null(0) if name in frame.columns else pl.lit(0).alias(name)
        for name in fill
    )


def evaluate_range(settings: Settings, first: date, last: date) -> tuple[pl.DataFrame, Path]:
    """Recall at 1 % and 5 % per category for model, rules and random; written as Markdown."""
    frame = evaluation_frame(settings, date_range(first, last))
    result = evaluate(
        frame,
        labels={c: f"truth_{c}" for c in CATEGORIES},
        methods={
            "model": {c: f"{c}_score" for c in CATEGORIES},
            "rules only": {c: f"rules_{c}" for c in CATEGORIES},
        },
        rates=RATES,
    ).filter(pl.col("scope") == "per_port")
    lines = [
        f"# Evaluation against the planted threats, {first} to {last}",
        "",
        f"{frame.height} items scored. Each port inspects the top share of its own list.",
        "",
        "| category | planted | inspected | model recall | rules-only recall | random recall |",
        "|---|---|---|---|---|---|",
    ]
    for category in CATEGORIES:
        for rate in RATES:
            rows = result.filter((pl.col("category") == category) & (pl.col("rate") == rate))
            recall = {m: r for m, r in rows.select("method", "recall").iter_rows()}
            planted = int(rows["positives"][0]) if rows.height else 0
            lines.append(
                f"| {category} | {planted} | {rate:.0%} | {_fmt(recall.get('model'))} | "
                f"{_fmt(recall.get('rules only'))} | {_fmt(recall.get('random'))} |"
            )
    target = settings.zone("reports") / "evaluation" / f"{first}_{last}.md"
    return result, write_text("\n".join(lines) + "\n", target)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
