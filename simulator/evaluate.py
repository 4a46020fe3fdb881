"""Evaluation against the simulator's ground truth: what would each port have found?

Each port inspects the top 1, 2 or 5 % of its own items of a night (at least one), ranked by one
method at a time:

- `rank`: the published list's own order (what an officer works down);
- `risk`: the calibrated `risk_score` alone;
- `rules`: the project's expert rules alone (summed weights of the rules that fired);
- `legacy`: the world's legacy inspection rules alone (the policy that labelled the history);
- `baseline`: a plain model's score, when one was written for the night (benchmarks/baseline.py).

Ties in a score count as broken at random, in expectation (models.evaluation.expected_found), so
a coarse score is neither flattered nor punished by row order.

Grain of `detection_table`: one row per (night, port, kind, method, rate); `kind` is `all`, a
threat category (`cbrn`, `salw`) or `scenario:<name>`. Only this module reads `truth/`; no
nightly stage does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from contracts import threats
from models.evaluation import expected_found, inspected_count
from pipelines import layout
from pipelines.dates import date_range
from pipelines.io import write_text
from pipelines.settings import Settings

KEY = ["declaration_id", "item_no"]
RATES: tuple[float, ...] = (0.01, 0.02, 0.05)
CATEGORIES = threats.NAMES
METHODS: tuple[str, ...] = ("rank", "risk", "baseline", "rules", "legacy")
BASELINE_FILE = "baseline_scores.parquet"
"""Per night under reports/baseline/date=D/: declaration_id, item_no, baseline (a score)."""

TABLE_SCHEMA = {
    "night": pl.Date(),
    "port": pl.String(),
    "kind": pl.String(),
    "method": pl.String(),
    "rate": pl.Float64(),
    "items": pl.Int64(),
    "inspected": pl.Int64(),
    "positives": pl.Int64(),
    "found": pl.Float64(),
}


def baseline_path(settings: Settings, day: date) -> Path:
    """Where a plain model's scores for a night are kept (written by the detection harness)."""
    return settings.zone("reports") / "baseline" / f"date={day.isoformat()}" / BASELINE_FILE


def _legacy_hits(settings: Settings, day: date, items: pl.DataFrame) -> pl.DataFrame:
    """The world's legacy rules' weighted hits per item of the night (0 without a world file)."""
    from simulator.inspections import rule_hits
    from simulator.world import WorldParameters, load_reference

    world_file = settings.zone("truth") / "world.json"
    staged = layout.staged_declarations_file(settings, day)
    if not world_file.is_file() or not staged.is_file():
        return items.select(*KEY, pl.lit(0.0).alias("legacy"))
    described = json.loads(world_file.read_text(encoding="utf-8"))
    params = WorldParameters.model_validate(described["parameters"])
    rates = {
        str(c): float(r)
        for c, r in load_reference().currency_rates.select("currency", "units_per_usd").iter_rows()
    }
    rows = pl.read_parquet(staged)
    hits = rule_hits(rows, params.legacy, rates).select(
        "declaration_id", pl.col("hits").cast(pl.Float64).alias("legacy")
    )
    return items.select(*KEY).join(hits, on="declaration_id", how="left")


def night_frame(settings: Settings, day: date) -> pl.DataFrame:
    """One row per item in the night's published lists, with every method's score and the truth.

    Columns: night, port, declaration_id, item_no, one column per available method (higher
    means inspect first), threat_category and scenario (null for honest items).
    """
    lists = layout.lists_dir(settings, day) / layout.LIST_FILE
    if not lists.is_file():
        raise FileNotFoundError(f"{lists}: no ranked list for {day}: run the night first")
    ranked = pl.read_parquet(lists)
    frame = ranked.select(
        pl.lit(day).alias("night"),
        pl.col("port_of_discharge").alias("port"),
        *KEY,
        (-pl.col("rank").cast(pl.Float64)).alias("rank"),
        pl.col("risk_score").cast(pl.Float64).alias("risk"),
    )
    hits_file = layout.scores_dir(settings, day) / layout.RULE_HITS_FILE
    if hits_file.is_file():
        weights = pl.read_parquet(hits_file).group_by(*KEY).agg(pl.col("weight").sum())
        frame = frame.join(weights, on=KEY, how="left").with_columns(
            pl.col("weight").cast(pl.Float64).fill_null(0.0).alias("rules")
        )
        frame = frame.drop("weight")
    frame = frame.join(_legacy_hits(settings, day, frame), on=KEY, how="left").with_columns(
        pl.col("legacy").fill_null(0.0)
    )
    baseline = baseline_path(settings, day)
    if baseline.is_file():
        scores = pl.read_parquet(baseline).select(*KEY, pl.col("baseline").cast(pl.Float64))
        frame = frame.join(scores, on=KEY, how="left")
    truth_file = settings.zone("truth") / "ground_truth.parquet"
    if not truth_file.is_file():
        raise FileNotFoundError(f"{truth_file}: no ground truth (only simulated worlds have one)")
    truth = pl.read_parquet(truth_file).select(*KEY, "threat_category", "scenario").unique(KEY)
    return frame.join(truth, on=KEY, how="left")


def detection_table(
    frame: pl.DataFrame,
    methods: Sequence[str] = METHODS,
    rates: Sequence[float] = RATES,
) -> pl.DataFrame:
    """Found and inspected per (night, port, kind, method, rate): each port inspects its own top.

    `frame` needs night, port, threat_category, scenario and one score column per method
    (methods missing from it are skipped). Found counts are expected values under random ties.
    """
    present = [m for m in methods if m in frame.columns]
    # Every port-night reports every kind, so a kind's precision shares the whole budget.
    scenarios = sorted({s for s in frame["scenario"].to_list() if s is not None})
    records: list[tuple[object, ...]] = []
    for (night, port), part in sorted(
        frame.partition_by("night", "port", as_dict=True).items(), key=lambda kv: str(kv[0])
    ):
        n = part.height
        category = part["threat_category"].to_list()
        scenario = part["scenario"].to_list()
        kinds: dict[str, np.ndarray] = {"all": np.array([c is not None for c in category])}
        for name in CATEGORIES:
            kinds[name] = np.array([c == name for c in category])
        for name in scenarios:
            kinds[f"scenario:{name}"] = np.array([s == name for s in scenario])
        scores = {m: part[m].cast(pl.Float64).to_numpy() for m in present}
        for rate in rates:
            k = inspected_count(n, rate)
            for kind, labels in kinds.items():
                positives = int(labels.sum())
                for method in present:
                    found = expected_found(scores[method], labels, k) if positives else 0.0
                    records.append((night, port, kind, method, rate, n, k, positives, found))
    return pl.DataFrame(records, schema=TABLE_SCHEMA, orient="row")


def summarise(table: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Recall and precision of `table` pooled over everything but `by` (and method, rate, kind).

    Inspected counts are summed once per (night, port): every kind of a port shares its budget.
    """
    keys = [*by, "kind", "method", "rate"]
    return (
        table.group_by(keys, maintain_order=True)
        .agg(pl.col("items", "inspected", "positives", "found").sum())
        .with_columns(
            recall=pl.when(pl.col("positives") > 0).then(pl.col("found") / pl.col("positives")),
            precision=pl.when(pl.col("inspected") > 0).then(pl.col("found") / pl.col("inspected")),
        )
        .sort(keys)
    )


@dataclass(frozen=True)
class Evaluation:
    """A night range's detection table and the Markdown report written from it."""

    table: pl.DataFrame
    report: Path


def evaluation_table(settings: Settings, first: date, last: date) -> pl.DataFrame:
    """The detection table of every night with published lists between `first` and `last`."""
    frames = []
    for day in date_range(first, last):
        if (layout.lists_dir(settings, day) / layout.LIST_FILE).is_file():
            frames.append(night_frame(settings, day))
    if not frames:
        raise FileNotFoundError(f"no ranked lists between {first} and {last}: run the nights first")
    return detection_table(pl.concat(frames, how="diagonal_relaxed"))


def evaluate_range(settings: Settings, first: date, last: date) -> Evaluation:
    """Recall and precision at 1/2/5 % per port and per threat kind, written as Markdown."""
    table = evaluation_table(settings, first, last)
    title = f"Evaluation against the planted threats, {first} to {last}"
    text = markdown_report(table, title)
    target = settings.zone("reports") / "evaluation" / f"{first}_{last}.md"
    return Evaluation(table, write_text(text, target))


def _cell(recall: float | None, precision: float | None) -> str:
    if recall is None:
        return "-"
    return f"{recall:.2f} ({precision:.3f})" if precision is not None else f"{recall:.2f}"


def recall_grid(summary: pl.DataFrame, label: str, rows: Sequence[str]) -> list[str]:
    """Markdown lines: one row per value of `label` x method, recall (precision) per rate."""
    rates = sorted(set(summary["rate"].to_list()))
    methods = [m for m in METHODS if m in set(summary["method"].to_list())]
    head = f"| {label} | method | planted | " + " | ".join(f"@{r:.0%}" for r in rates) + " |"
    lines = [head, "|" + "---|" * (3 + len(rates))]
    for row in rows:
        part = summary.filter(pl.col(label) == row) if label in summary.columns else summary
        for method in methods:
            cells = []
            planted = 0
            for rate in rates:
                hit = part.filter((pl.col("method") == method) & (pl.col("rate") == rate))
                if hit.height:
                    planted = int(hit["positives"][0])
                    cells.append(_cell(hit["recall"][0], hit["precision"][0]))
                else:
                    cells.append("-")
            lines.append(f"| {row} | {method} | {planted} | " + " | ".join(cells) + " |")
    return lines


def markdown_report(table: pl.DataFrame, title: str) -> str:
    """Per threat kind and per port: recall (precision) at each rate, for every method."""
    nights = table["night"].n_unique()
    ports = table["port"].n_unique()
    items = int(
        table.filter(pl.col("kind") == "all")
        .group_by("night", "port")
        .agg(pl.col("items").first())["items"]
        .sum()
    )
    lines = [
        f"# {title}",
        "",
        f"{items} items over {nights} night(s) and {ports} port(s). Each port inspects the top "
        "share of its own items each night (at least one). Cells: recall (precision); methods: "
        "`rank` the list's order, `risk` risk_score alone, `baseline` a plain model, `rules` the "
        "expert rules alone, `legacy` the world's legacy rules alone.",
        "",
        "## Per threat kind",
        "",
    ]
    by_kind = summarise(table, [])
    kinds = [k for k in ("all", *CATEGORIES) if k in set(by_kind["kind"].to_list())]
    kinds += sorted(k for k in set(by_kind["kind"].to_list()) if k.startswith("scenario:"))
    lines += recall_grid(by_kind, "kind", kinds)
    lines += ["", "## Per port (all threats)", ""]
    by_port = summarise(table.filter(pl.col("kind") == "all"), ["port"])
    lines += recall_grid(by_port, "port", sorted(set(by_port["port"].to_list())))
    return "\n".join(lines) + "\n"
