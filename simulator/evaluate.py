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

Recall is counted twice: per threat item, and per consignment. A split scenario spreads one
consignment over several declarations that reach one port the same night; an officer who finds
one part stops the consignment, so it counts as found when any of its parts is inspected. Beside
both stands the ceiling: the most any order could find within the budgets (a port-night with more
threat items, or consignments, than inspections cannot find them all).

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
    "ceiling": pl.Int64(),
    "consignments": pl.Int64(),
    "consignments_found": pl.Float64(),
    "consignment_ceiling": pl.Int64(),
}
"""`ceiling`: the most threat items any order could find with `inspected` inspections;
`consignments`: distinct threat consignments among the positives, `consignments_found` those with
at least one part inspected (expected under random ties), `consignment_ceiling` the most any order
could find."""

CONSIGNMENT_COUNTS = ("consignments", "consignments_found", "consignment_ceiling")

CONSIGNMENT_FIELDS = (
    "shipper_id",
    "consignee_id",
    "declarant_id",
    "mode",
    "port_of_loading",
    "country_of_origin",
    "goods_description",
)
"""Text fields the simulator copies from a split consignment onto each of its parts
(simulator/threats.py `_split`: same parties, route and goods text); the transit hubs and the
6-digit HS code are compared too, and the night, port and scenario."""


def _share(part: str, whole: str) -> pl.Expr:
    """`part / whole`, null where `whole` is zero (a recall with nothing planted is undefined)."""
    return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))


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


def split_scenarios(settings: Settings) -> frozenset[str]:
    """Names of the world's scenarios that split a consignment over several declarations."""
    world_file = settings.zone("truth") / "world.json"
    if not world_file.is_file():
        return frozenset()
    described = json.loads(world_file.read_text(encoding="utf-8"))
    return frozenset(
        str(s["name"]) for s in described.get("scenarios", []) if s.get("split") is not None
    )


def consignment_ids(threats: pl.DataFrame, split: frozenset[str]) -> pl.Series:
    """One consignment id per threat row: a split scenario's parts share one; any other threat
    is the consignment of its declaration (named `declaration_id`), so the threat lines of one
    declaration (a scenario's `threat_lines`), examined together, count once.

    The truth does not name a part's consignment, but the simulator gives every part the same
    parties, route, goods text and day (`_split`), so parts are the threat items of one night,
    port and split scenario that agree on CONSIGNMENT_FIELDS, transshipment_ports and the 6-digit
    HS code (the national digits are drawn per part). `threats` needs KEY, night, port and
    scenario, and those fields when `split` is not empty; a row without them (a null shipper_id:
    no staged row) stays its own consignment.
    """
    own = pl.col("declaration_id")
    if not split:
        return threats.select(own.alias("consignment")).to_series()
    parts = pl.concat_str(
        pl.col("night").cast(pl.String),
        pl.col("port"),
        pl.col("scenario"),
        *[pl.col(f).fill_null("") for f in CONSIGNMENT_FIELDS],
        pl.col("transshipment_ports").cast(pl.List(pl.String)).list.join("|").fill_null(""),
        pl.col("hs_code").str.slice(0, 6),
        separator="\x1f",
    )
    is_part = pl.col("scenario").is_in(sorted(split)) & pl.col("shipper_id").is_not_null()
    # A consignment is named after its first part, so the id reads like a declaration.
    first = own.min().over(parts)
    return threats.select(
        pl.when(is_part).then(pl.lit("split:") + first).otherwise(own).alias("consignment")
    ).to_series()


def with_consignments(settings: Settings, day: date, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with a `consignment` column (null for honest items), split parts told apart from
    the night's staged declarations."""
    split = split_scenarios(settings)
    threats = frame.filter(pl.col("scenario").is_not_null()).select(
        *KEY, "night", "port", "scenario"
    )
    split = split & set(threats["scenario"].to_list())
    if split:
        staged = layout.staged_declarations_file(settings, day)
        if not staged.is_file():
            raise FileNotFoundError(f"{staged}: no staged declarations to group split parts by")
        columns = [*KEY, *CONSIGNMENT_FIELDS, "transshipment_ports", "hs_code"]
        rows = pl.read_parquet(staged, columns=columns).with_columns(
            pl.col("item_no").cast(pl.Int64)
        )
        threats = threats.join(rows.unique(KEY), on=KEY, how="left")
    ids = threats.select(*KEY, consignment_ids(threats, split))
    return frame.join(ids, on=KEY, how="left")


def night_frame(settings: Settings, day: date) -> pl.DataFrame:
    """One row per item in the night's published lists, with every method's score and the truth.

    Columns: night, port, declaration_id, item_no, one column per available method (higher
    means inspect first), threat_category, scenario and consignment (null for honest items).
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
    return with_consignments(settings, day, frame.join(truth, on=KEY, how="left"))


def expected_consignments_found(scores: np.ndarray, consignment: np.ndarray, k: int) -> float:
    """Consignments expected to have a part among the `k` highest-scored rows, ties at random.

    `consignment` holds a consignment number per row, -1 for rows of none. Rows scored above the
    k-th score are inspected; of the m rows tied with it, a random r fill the remaining slots, so
    a consignment with j parts among them and none above is missed with chance C(m-j, r)/C(m, r).
    """
    s = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=np.float64))
    if k <= 0 or s.size == 0:
        return 0.0
    k = min(k, s.size)
    edge = np.sort(s)[::-1][k - 1]
    above = s > edge
    tied = s == edge
    m = int(tied.sum())
    r = k - int(above.sum())
    total = 0.0
    for number in np.unique(consignment[consignment >= 0]):
        parts = consignment == number
        if (parts & above).any():
            total += 1.0
            continue
        j = int((parts & tied).sum())
        missed = 1.0
        for i in range(j):
            missed *= max(m - r - i, 0) / (m - i)
        total += 1.0 - missed
    return total


def detection_table(
    frame: pl.DataFrame,
    methods: Sequence[str] = METHODS,
    rates: Sequence[float] = RATES,
) -> pl.DataFrame:
    """Found and inspected per (night, port, kind, method, rate): each port inspects its own top.

    `frame` needs night, port, threat_category, scenario and one score column per method
    (methods missing from it are skipped); a `consignment` column groups a split consignment's
    parts (without it, or where null, every threat is its own consignment). Found counts are
    expected values under random ties.
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
        named = part["consignment"].to_list() if "consignment" in part.columns else [None] * n
        consignment = np.array(
            [c if c is not None else f"item:{i}" for i, c in enumerate(named)], dtype=object
        )
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
                numbers = np.full(n, -1, dtype=np.int64)
                if positives:
                    numbers[labels] = np.unique(consignment[labels], return_inverse=True)[1]
                consignments = int(numbers.max()) + 1
                for method in present:
                    found = expected_found(scores[method], labels, k) if positives else 0.0
                    stopped = (
                        expected_consignments_found(scores[method], numbers, k)
                        if positives
                        else 0.0
                    )
                    records.append(
                        (
                            *(night, port, kind, method, rate, n, k, positives, found),
                            *(min(positives, k), consignments, stopped, min(consignments, k)),
                        )
                    )
    return pl.DataFrame(records, schema=TABLE_SCHEMA, orient="row")


def summarise(table: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Recall and precision of `table` pooled over everything but `by` (and method, rate, kind),
    per item and per consignment, each beside its ceiling.

    Inspected counts are summed once per (night, port): every kind of a port shares its budget.
    """
    keys = [*by, "kind", "method", "rate"]
    counts = ["items", "inspected", "positives", "found"]
    counts += [c for c in ("ceiling", *CONSIGNMENT_COUNTS) if c in table.columns]
    summary = (
        table.group_by(keys, maintain_order=True)
        .agg(pl.col(*counts).sum())
        .with_columns(
            recall=_share("found", "positives"),
            precision=_share("found", "inspected"),
        )
    )
    if "ceiling" in table.columns:
        summary = summary.with_columns(
            ceiling_recall=_share("ceiling", "positives"),
            ceiling_precision=_share("ceiling", "inspected"),
        )
    if "consignments" in table.columns:
        summary = summary.with_columns(
            consignment_recall=_share("consignments_found", "consignments"),
            consignment_ceiling_recall=_share("consignment_ceiling", "consignments"),
        )
    return summary.sort(keys)


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


CONSIGNMENT_NOTE = (
    "Per consignment: a split consignment's parts (declarations of one night, port, scenario, "
    "parties, route and goods) count once, found when any part is inspected; so do the threat "
    "lines of one declaration; every other threat is its own consignment. Those cells give "
    "recall only."
)

CEILING = "ceiling"
"""The row under a grid's methods: the most any order could find within the budgets."""


def recall_grid(
    summary: pl.DataFrame,
    label: str,
    rows: Sequence[str],
    *,
    per_consignment: bool = False,
    ceiling: bool = False,
) -> list[str]:
    """Markdown lines: one row per value of `label` x method, recall (precision) per rate.

    `per_consignment` counts consignments (recall only: precision stays a per-item figure);
    `ceiling` adds a `ceiling` row after each label's methods.
    """
    rates = sorted(set(summary["rate"].to_list()))
    methods = [m for m in METHODS if m in set(summary["method"].to_list())]
    planted = "consignments" if per_consignment else "planted"
    head = f"| {label} | method | {planted} | " + " | ".join(f"@{r:.0%}" for r in rates) + " |"
    lines = [head, "|" + "---|" * (3 + len(rates))]
    shown: Columns = (
        ("consignments", "consignment_recall", None)
        if per_consignment
        else ("positives", "recall", "precision")
    )
    top: Columns = (
        ("consignments", "consignment_ceiling_recall", None)
        if per_consignment
        else ("positives", "ceiling_recall", "ceiling_precision")
    )
    for row in rows:
        part = summary.filter(pl.col(label) == row) if label in summary.columns else summary
        for method in methods:
            cells = _grid_cells(part.filter(pl.col("method") == method), shown, rates)
            lines.append(f"| {row} | {method} | {cells} |")
        if ceiling and methods:
            # The ceiling does not depend on the method: read it off the first one's rows.
            cells = _grid_cells(part.filter(pl.col("method") == methods[0]), top, rates)
            lines.append(f"| {row} | {CEILING} | {cells} |")
    return lines


Columns = tuple[str, str, str | None]
"""A grid row's (count, recall, precision) columns of a summary; no precision shows recall only."""


def _grid_cells(part: pl.DataFrame, columns: Columns, rates: Sequence[float]) -> str:
    """The planted count and one cell per rate of one method's summary rows, joined by pipes."""
    count, recall, precision = columns
    cells = []
    planted = 0
    for rate in rates:
        hit = part.filter(pl.col("rate") == rate)
        if hit.height:
            planted = int(hit[count][0])
            cells.append(_cell(hit[recall][0], hit[precision][0] if precision else None))
        else:
            cells.append("-")
    return " | ".join([str(planted), *cells])


def markdown_report(table: pl.DataFrame, title: str) -> str:
    """Per threat kind (per item, then per consignment) and per port: recall (precision) at each
    rate, for every method, with the ceiling any order could reach."""
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
        "expert rules alone, `legacy` the world's legacy rules alone; `ceiling` the most any "
        "order could find within the budgets.",
        "",
        "## Per threat kind",
        "",
    ]
    by_kind = summarise(table, [])
    kinds = [k for k in ("all", *CATEGORIES) if k in set(by_kind["kind"].to_list())]
    kinds += sorted(k for k in set(by_kind["kind"].to_list()) if k.startswith("scenario:"))
    lines += recall_grid(by_kind, "kind", kinds, ceiling=True)
    lines += ["", "## Per threat kind, per consignment", "", CONSIGNMENT_NOTE, ""]
    lines += recall_grid(by_kind, "kind", kinds, per_consignment=True, ceiling=True)
    lines += ["", "## Per port (all threats)", ""]
    by_port = summarise(table.filter(pl.col("kind") == "all"), ["port"])
    lines += recall_grid(by_port, "port", sorted(set(by_port["port"].to_list())))
    return "\n".join(lines) + "\n"
