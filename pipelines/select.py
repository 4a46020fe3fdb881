"""Selection: turn one day's scores, rule hits and watch-list hits into lanes and ranks per port.

Output grain: one row per declaration item scored in one nightly run (the ranked-list contract,
contracts/ranked_list.py), ranked 1..n within each port of discharge and list date. The core
(`select_lanes`) is pure; `select_day` reads the scores partition and the past outcomes and calls
it.

Three red slices per port: forced holds (watch-list hits marked `hold`, then rules with `force:
red`, an officer's legal hold), the risk-ranked red lane (the red capacity left after the holds'
slots, by ranking score), then the random quota (red too, drawn from the rest, on top of the
capacity); yellow and green follow by ranking score. A watch-list hold is on a party, so on its
whole consignment: every item of the declaration is held, but the consignment is examined once,
so only its best item takes a slot (the others stay red, `_CONSIGNMENT`).

The order (rank): the holds that took a slot first, then every other item by ranking score,
whatever its lane. A random item or the rest of a held consignment sits where its own score puts
it, so it never pushes a likelier item out of a budget smaller than the red lane
(docs/decisions/0029-list-order-never-below-risk.md).

The ranking score is the expected chance of a finding per inspection: the largest of the model's
calibrated risk_score, the lift of the rules that fired, and the measured precision of the item's
watch-list cell, shared over the declaration's hit lines by their risk (`_shared_over_lines`). A
declaration's other items rank by their score times one minus its gap to the declaration's best,
so one consignment's cover items, lifted by the route they share, do not fill a small budget
(`_one_examination_per_consignment`). Precisions are Beta posteriors over
inspections recorded before the list's date (pipelines/evidence.py): a rule's prior is its
weight x `rule_prior_scale`, a watch-list hit's `watchlist_prior` x match score, each worth
`prior_strength` inspections. A rule ranks by the prior's part of its posterior only (see
`rule_precision`).
(docs/decisions/0020-ranking-measured-precision.md, which supersedes 0016 where they differ.)

Capacity follows the port: red and yellow capacity are shares of the port's items that day,
rounded, between a floor and a ceiling, unless the port has an override.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from contracts import threats
from contracts.ranked_list import RANKED_LIST
from features.rules import (
    HITS_SCHEMA,
    Rule,
    rules_valid_on,
)
from pipelines import layout
from pipelines.evidence import Evidence, beta_mean, match_band, measure_evidence
from pipelines.io import write_parquet
from pipelines.layout import RULE_HITS_FILE, SCORES_FILE, WATCHLIST_HITS_FILE
from pipelines.rules import load_rules, load_starter_rules
from pipelines.settings import Settings

SCORES_SCHEMA: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "port_of_discharge": pl.String(),
    "risk_score": pl.Float64(),
    **{column: pl.Float64() for column in threats.SCORE_COLUMNS},
    "reasons": pl.String(),
    "model_version": pl.String(),
}
"""Selection input: one row per declaration item scored for the day."""

WATCHLIST_HITS_SCHEMA: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "entry_id": pl.String(),
    "list_name": pl.String(),
    "reason": pl.String(),
    "hold": pl.Boolean(),
    "score": pl.Float64(),
}
"""Watch-list hits: one row per (declaration item, list entry) that matched a party.

`hold` (the hit is a mandatory hold, forced red) and `score` (match strength 0..1) are optional:
an older hits file without them reads as hold=True, score=1.0, the behaviour before they existed.
"""

WATCHLIST_HIT_EXTRAS: dict[str, pl.DataType] = {"entry_type": pl.String()}
"""Optional columns read when present: `entry_type` (individual, entity, unknown) picks the
measured precision cell of a hit."""

OPTIONAL_DEFAULTS: dict[str, object] = {"hold": True, "score": 1.0, "entry_type": "unknown"}
"""Defaults of the optional input columns, used when a column is absent or a value is null."""

SLICES_FILE = "selection_slices.parquet"
RANDOM_REASON = "random selection for the unbiased sample"
COVERED_REASON = "ranked after item {} of its declaration, whose examination covers the consignment"
"""Reason of an item ranked below its own score: its declaration's best item leads (0041)."""
KEY = ["declaration_id", "item_no"]

# Groups of a port's list; the first five are red. Only the holds that take an inspection slot
# (_WATCHLIST, _RULE) lead the order; every other item sits where its ranking score puts it.
_WATCHLIST, _RULE, _CONSIGNMENT, _RED, _RANDOM, _YELLOW, _GREEN = range(7)
SLICE_NAMES = {
    _WATCHLIST: "hold",
    _RULE: "hold",
    _CONSIGNMENT: "hold",
    _RED: "risk",
    _RANDOM: "random",
}
"""Slice of each red group: forced holds (a held consignment's other items too), risk, random."""


@dataclass(frozen=True)
class SelectionPolicy:
    """How many items each port can inspect per day, how hits are weighed, how the random sample
    is drawn.

    Capacity: with `red_share` (`yellow_share`) set, a port's red (yellow) capacity is that share
    of its items that day, half rounding up, at least the floor and at most `red_capacity`
    (`yellow_capacity`); without a share it is `red_capacity` (`yellow_capacity`) itself. An
    override fixes both for its port.
    """

    red_capacity: int = 20
    yellow_capacity: int = 40
    red_share: float | None = None
    yellow_share: float | None = None
    red_floor: int = 1
    yellow_floor: int = 1
    capacity_overrides: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Port UN/LOCODE -> (red, yellow) capacity, replacing the share and defaults for that port."""
    random_quota_share: float = 0.015
    """Share of the red capacity drawn at random; at least one item when the capacity is > 0."""
    prior_strength: float = 10.0
    """How many inspections a rule's weight (or a watch-list prior) counts for against outcomes."""
    watchlist_prior: float = 0.01
    """Prior precision of a non-hold watch-list hit of match score 1.0 (times the score)."""
    rule_prior_scale: float = 0.03
    """A rule's prior precision is its weight times this (weights state relative belief)."""
    seed: int = 0

    def __post_init__(self) -> None:
        capacities = [
            (self.red_capacity, self.yellow_capacity),
            (self.red_floor, self.yellow_floor),
            *self.capacity_overrides.values(),
        ]
        if any(red < 0 or yellow < 0 for red, yellow in capacities):
            raise ValueError("capacities and floors must be >= 0")
        shares = ("red_share", "yellow_share", "random_quota_share", "watchlist_prior")
        for name in (*shares, "rule_prior_scale"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.prior_strength <= 0:
            raise ValueError("prior_strength must be > 0")

    def capacity(self, port: str, items: int | None = None) -> tuple[int, int]:
        """(red, yellow) capacity of a port that has `items` items today."""
        if port in self.capacity_overrides:
            return self.capacity_overrides[port]
        return (
            _share_capacity(self.red_share, items, self.red_floor, self.red_capacity),
            _share_capacity(self.yellow_share, items, self.yellow_floor, self.yellow_capacity),
        )

    def random_quota(self, red_capacity: int) -> int:
        """Items drawn at random out of a red capacity (half rounds up; at least 1 if any)."""
        if red_capacity <= 0 or self.random_quota_share <= 0:
            return 0
        return max(1, int(red_capacity * self.random_quota_share + 0.5))


def _share_capacity(share: float | None, items: int | None, floor: int, ceiling: int) -> int:
    if share is None or items is None:
        return ceiling
    return max(min(floor, ceiling), min(ceiling, int(share * items + 0.5)))


def policy_from_settings(settings: Settings) -> SelectionPolicy:
    """The policy of a run, from the selection fields of the settings."""
    return SelectionPolicy(
        red_capacity=settings.capacity_red_default,
        yellow_capacity=settings.capacity_yellow_default,
        red_share=settings.capacity_red_share,
        yellow_share=settings.capacity_yellow_share,
        red_floor=settings.capacity_red_floor,
        yellow_floor=settings.capacity_yellow_floor,
        capacity_overrides=dict(settings.capacity_overrides),
        random_quota_share=settings.random_quota_share,
        prior_strength=settings.precision_prior_strength,
        watchlist_prior=settings.watchlist_prior_precision,
        rule_prior_scale=settings.rule_prior_scale,
        seed=settings.seed,
    )


@dataclass(frozen=True)
class PortSelection:
    """What selection did for one port on one day."""

    port: str
    rows: int
    red_capacity: int
    yellow_capacity: int
    watchlist: int
    rule: int
    random: int
    red: int
    yellow: int
    green: int
    consignment: int = 0
    """Other items of a consignment held on a watch-list match: red, held, no slot of their own
    (the examination of the consignment covers them). Counted in `watchlist` too."""

    @property
    def risk(self) -> int:
        """Red items ranked by their score (neither forced nor drawn at random)."""
        return self.red - self.watchlist - self.rule - self.random

    @property
    def slots_held(self) -> int:
        """Inspection slots the holds took: one per held consignment, one per legal-hold item."""
        return self.watchlist - self.consignment + self.rule

    @property
    def red_share(self) -> float:
        """Red capacity as a share of the port's items."""
        return self.red_capacity / self.rows if self.rows else 0.0

    @property
    def over_capacity(self) -> int:
        """Hold slots beyond the red capacity (they still go red; the random quota is on top)."""
        return max(0, self.slots_held - self.red_capacity)

    def as_dict(self) -> dict[str, int | float]:
        """The counts for a stage summary (JSON)."""
        return {
            "rows": self.rows,
            "red_capacity": self.red_capacity,
            "yellow_capacity": self.yellow_capacity,
            "red_share": round(self.red_share, 4),
            "hold": self.watchlist + self.rule,
            "hold_watchlist": self.watchlist,
            "hold_consignment": self.consignment,
            "hold_rule": self.rule,
            "hold_slots": self.slots_held,
            "risk": self.risk,
            "random": self.random,
            "red": self.red,
            "yellow": self.yellow,
            "green": self.green,
        }


@dataclass(frozen=True)
class Selection:
    """The ranked lists of one day (contract columns, ordered by port and rank), a summary per
    port, the red slice of every red item, and the precision each hit was weighed with."""

    ranked: pl.DataFrame
    ports: tuple[PortSelection, ...]
    slices: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SLICES_SCHEMA))
    """One row per red item: key, port, slice (hold, risk, random)."""

    @property
    def notes(self) -> list[str]:
        """Lines for the run output; a port over its red capacity is always named."""
        return [
            f"{p.port}: {p.slots_held} forced red items exceed the red capacity of "
            f"{p.red_capacity} by {p.over_capacity} ({p.watchlist - p.consignment} watch-list "
            f"holds and {p.rule} rule holds forced red, plus {p.random} random"
            + (f" and {p.consignment} other items of held consignments" if p.consignment else "")
            + "); all of them stay red"
            for p in self.ports
            if p.over_capacity
        ]


SLICES_SCHEMA: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "port_of_discharge": pl.String(),
    "slice": pl.String(),
}
"""Red items of one night and the slice that put them there."""


def port_seed(seed: int, day: date, port: str) -> int:
    """A seed for one port's random draw on one day, stable across runs and machines."""
    digest = hashlib.sha256(f"{seed}|{day.isoformat()}|{port}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def select_lanes(
    scores: pl.DataFrame,
    rule_hits: pl.DataFrame,
    watchlist_hits: pl.DataFrame,
    *,
    policy: SelectionPolicy,
    day: date,
    run_id: str,
    evidence: Evidence | None = None,
) -> Selection:
    """Lanes, selection reasons and ranks for one day's scored items, per port of discharge.

    `evidence` holds the rule and watch-list counts measured on past inspections; without it every
    hit is weighed by its prior.
    """
    scores = _conform(scores, SCORES_SCHEMA, "scores")
    rule_hits = _conform(rule_hits, HITS_SCHEMA, "rule hits")
    watchlist_hits = _conform(
        watchlist_hits, {**WATCHLIST_HITS_SCHEMA, **WATCHLIST_HIT_EXTRAS}, "watch-list hits"
    )
    duplicated = scores.filter(pl.struct(KEY).is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        raise ValueError(
            f"scores: {duplicated.height} rows repeat a key, e.g. declaration_id="
            f"{first['declaration_id']!r} item_no={first['item_no']}"
        )
    for column in ("risk_score", *threats.SCORE_COLUMNS):
        bad = scores.filter(~pl.col(column).is_between(0, 1) | pl.col(column).is_null())
        if bad.height:
            first = bad.row(0, named=True)
            raise ValueError(
                f"scores: {bad.height} rows with {column} missing or outside 0..1, e.g. "
                f"declaration_id={first['declaration_id']!r} item_no={first['item_no']}: "
                f"{first[column]!r}"
            )
    frame = _attach_hits(scores, rule_hits, watchlist_hits, policy, evidence or Evidence())
    ranked = _assign_groups(_one_examination_per_consignment(frame), policy, day)
    slices = ranked.filter(pl.col("_group") <= _RANDOM).select(
        *KEY,
        "port_of_discharge",
        pl.col("_group").replace_strict(SLICE_NAMES, return_dtype=pl.String()).alias("slice"),
    )
    return Selection(_to_contract(ranked, day, run_id), _summaries(ranked), slices)


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], what: str) -> pl.DataFrame:
    missing = [
        name for name in schema if name not in frame.columns and name not in OPTIONAL_DEFAULTS
    ]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}")
    return frame.select(
        (
            pl.col(name).cast(dtype).fill_null(OPTIONAL_DEFAULTS[name])
            if name in frame.columns
            else pl.lit(OPTIONAL_DEFAULTS[name], dtype=dtype).alias(name)
        )
        if name in OPTIONAL_DEFAULTS
        else pl.col(name).cast(dtype)
        for name, dtype in schema.items()
    )


def rule_precision(
    rule_hits: pl.DataFrame, evidence: Evidence, policy: SelectionPolicy
) -> pl.DataFrame:
    """Per rule of `rule_hits`: its prior (weight), measured counts, posterior precision, and the
    lift it ranks by.

    The posterior mean splits in two: strength x weight / (strength + n), the officer's prior,
    and findings / (strength + n), the outcomes. The model was trained on those same outcomes,
    over fields the rule reads too, so its risk_score already carries the second part, item by
    item; the lift is the first part alone, the knowledge the model has not seen. A new rule
    ranks by its weight; as its hits are inspected the model takes over.
    """
    strength = policy.prior_strength
    inspected = pl.col("inspected")
    prior = (pl.col("weight") * policy.rule_prior_scale).clip(0.0, 1.0)
    return (
        rule_hits.group_by("rule_id")
        .agg(pl.col("weight").max())
        .join(evidence.rules, on="rule_id", how="left")
        .with_columns(inspected.fill_null(0), pl.col("findings").fill_null(0))
        .with_columns(
            prior.alias("prior"),
            beta_mean(prior, strength, inspected, pl.col("findings")).alias("precision"),
            (prior * strength / (strength + inspected)).alias("lift"),
        )
        .sort("rule_id")
    )


def watch_precision(
    watchlist_hits: pl.DataFrame, evidence: Evidence, policy: SelectionPolicy
) -> pl.DataFrame:
    """Per watch-list hit: the posterior precision of its (hold, entry type, band) cell, the prior
    being `watchlist_prior` x match score."""
    return (
        watchlist_hits.with_columns(match_band(pl.col("score")).alias("band"))
        .join(evidence.watchlist, on=["hold", "entry_type", "band"], how="left")
        .with_columns(pl.col("inspected").fill_null(0), pl.col("findings").fill_null(0))
        .with_columns(
            beta_mean(
                policy.watchlist_prior * pl.col("score"),
                policy.prior_strength,
                pl.col("inspected"),
                pl.col("findings"),
            ).alias("precision")
        )
    )


def _attach_hits(
    scores: pl.DataFrame,
    rule_hits: pl.DataFrame,
    watchlist_hits: pl.DataFrame,
    policy: SelectionPolicy,
    evidence: Evidence,
) -> pl.DataFrame:
    lifts = rule_precision(rule_hits, evidence, policy).select("rule_id", "lift")
    # A rule fires at most once per item: a repeated hit row must not count twice.
    rules = (
        rule_hits.unique([*KEY, "rule_id"])
        .join(lifts, on="rule_id", how="left")
        .sort([*KEY, "rule_id"])
        .group_by(KEY, maintain_order=True)
        .agg(
            pl.col("rule_id").unique(maintain_order=True).alias("rule_hits"),
            pl.col("lift").max().alias("_rule_lift"),
            pl.col("force_red").any().alias("_force_rule"),
            pl.format("rule {}: {}", "rule_id", "title")
            .unique(maintain_order=True)
            .str.join("; ")
            .alias("_rule_text"),
        )
    )
    watch_text = (
        pl.when(pl.col("reason").is_not_null() & (pl.col("reason").str.strip_chars() != ""))
        .then(pl.format("watch list: {}", "reason"))
        .otherwise(pl.format("watch list {} entry {}", "list_name", "entry_id"))
    )
    watch = (
        # Sorted on every column, so two hits of one entry (shipper and consignee) keep one order.
        watch_precision(watchlist_hits, evidence, policy)
        .sort([*KEY, "list_name", "entry_id", "reason"], nulls_last=True)
        .group_by(KEY, maintain_order=True)
        .agg(
            pl.col("entry_id").unique(maintain_order=True).alias("watchlist_hits"),
            watch_text.unique(maintain_order=True).str.join("; ").alias("_watch_text"),
            pl.col("hold").any().alias("_force_watch"),
            pl.col("precision").max().alias("_watch_lift"),
        )
    )
    # Shared over the hit lines among the hits alone: a few rows, not the day's.
    watch = _shared_over_lines(watch.join(scores.select(*KEY, "risk_score"), on=KEY))
    empty_list = pl.lit([], dtype=pl.List(pl.String()))
    return (
        scores.join(rules, on=KEY, how="left")
        .join(watch, on=KEY, how="left")
        .with_columns(
            pl.col("rule_hits").fill_null(empty_list),
            pl.col("watchlist_hits").fill_null(empty_list),
            pl.col("_rule_lift").fill_null(0.0),
            pl.col("_watch_lift").fill_null(0.0),
            pl.col("_force_rule").fill_null(False),
            pl.col("_force_watch").fill_null(False),
        )
        .with_columns(
            # The largest single estimate, never a sum: each one is a chance of a finding for the
            # same inspection, measured on items that already carried the others' evidence.
            pl.max_horizontal("risk_score", "_rule_lift", "_watch_lift").alias("_ranking_score"),
            # The lift that decided the rank names the reason; ties go to the model's risk.
            (
                (pl.col("_watch_lift") > pl.col("risk_score"))
                & (pl.col("_watch_lift") > pl.col("_rule_lift"))
            ).alias("_watch_lifted"),
            (
                (pl.col("_rule_lift") > pl.col("risk_score"))
                & (pl.col("_rule_lift") >= pl.col("_watch_lift"))
            ).alias("_rule_lifted"),
        )
    )


def _shared_over_lines(hits: pl.DataFrame) -> pl.DataFrame:
    """`hits` (one row per hit line, with its `risk_score`) with `_watch_lift`, the precision of
    a party's hit, shared out over the declaration's hit lines by the model's relative risk.

    A watch-list hit is on a party, so on every line of its declaration, and its precision is
    measured per line inspected: the average chance of a finding on one line of a hit
    consignment. Which line holds it is what the model knows, so line i of the k hit lines gets
    precision x k x risk_i / (sum of their risks), at most 1: the consignment's expected
    findings stay the same, its covers no longer rank at the party's precision above another
    consignment's likelier line. Equal risks (or none) leave the precision as it was (decision
    0042).
    """
    precision = pl.col("_watch_lift")
    hit = precision > 0
    lines = hit.cast(pl.Int64).sum().over("declaration_id")
    total = pl.when(hit).then(pl.col("risk_score")).otherwise(0.0).sum().over("declaration_id")
    share = precision * lines * pl.col("risk_score") / total
    return hits.with_columns(
        pl.when(hit & (total > 0))
        .then(share.clip(0.0, 1.0))
        .otherwise(precision)
        .alias("_watch_lift")
    ).drop("risk_score")


def _one_examination_per_consignment(frame: pl.DataFrame) -> pl.DataFrame:
    """Discount a declaration's other items by how far they score below its best item.

    Items of one declaration share its parties, route and dates, so their scores move together:
    a consignment whose best item scores 0.99 lifts its cover items to 0.27 on the route alone,
    and three slots of a small budget go to one examination. An item scoring as high as its
    declaration's best stands on its own goods (weapons and their ammunition on two lines); one
    far below it is mostly the shared part, which the best item's examination already covers.
    So an item ranks by score x (1 - (best score - score)): 0.27 beside 0.99 ranks as 0.07,
    0.85 beside 0.9 as 0.81. The best item keeps its own, so which item leads a held consignment
    does not change; `risk_score` is kept. No parameter: decision 0041 measured this against a
    discount by the chance the better items hold no finding, which lost a declaration's second
    and third threat lines.
    """
    score = pl.col("_ranking_score")
    gap = pl.col("_gap")
    # The lowest-numbered of the best items: the same whatever order the scores came in.
    best_item = pl.when(gap == 0).then(pl.col("item_no")).min().over("declaration_id")
    return (
        frame.with_columns((score.max().over("declaration_id") - score).alias("_gap"))
        .with_columns(
            (score * (1.0 - gap)).alias("_ranking_score"),
            # The reasons name the item whose examination covers a discounted one.
            pl.when(gap > 0).then(best_item).alias("_covered_by"),
        )
        .drop("_gap")
    )


def _assign_groups(frame: pl.DataFrame, policy: SelectionPolicy, day: date) -> pl.DataFrame:
    """Add `_group` (watch list, rule, random, red, yellow, green) and sort by port and rank."""
    port = pl.col("_port_index")
    sizes = dict(frame.group_by("port_of_discharge").len().iter_rows())
    ports = sorted(sizes)
    capacities = [policy.capacity(p, sizes[p]) for p in ports]
    plan = pl.DataFrame(
        {
            "port_of_discharge": ports,
            "_port_index": list(range(len(ports))),
            "_red_capacity": [red for red, _ in capacities],
            "_yellow_capacity": [yellow for _, yellow in capacities],
        },
        schema={
            "port_of_discharge": pl.String(),
            "_port_index": pl.Int64(),
            "_red_capacity": pl.Int64(),
            "_yellow_capacity": pl.Int64(),
        },
    )
    # Sorting a narrow frame on an integer port index and gathering the wide frame once is
    # several times faster at 1e6 rows than sorting the wide frame on the port's name.
    wide = frame.with_row_index("_row")
    frame = (
        wide.select(
            "_row",
            "port_of_discharge",
            "_ranking_score",
            "risk_score",
            *KEY,
            "_force_watch",
            "_force_rule",
        )
        .join(plan, on="port_of_discharge", how="left", maintain_order="left")
        # Canonical order (best first, ties by key): the result does not depend on input order.
        .sort(
            ["_port_index", "_ranking_score", "risk_score", "declaration_id", "item_no"],
            descending=[False, True, True, False, False],
            nulls_last=True,
        )
        .with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).over(port).alias("_pos"),
            # A watch-list hold is on a party, so on its whole consignment, which is examined
            # once: its best item (canonical order) takes the inspection slot and leads the list.
            (
                pl.col("_force_watch")
                & (
                    pl.col("_force_watch").cast(pl.Int64).cum_sum().over(port, "declaration_id")
                    == 1
                )
            ).alias("_hold_lead"),
        )
        .with_columns(
            # Holds that take a slot of the red capacity.
            (pl.col("_hold_lead") | pl.col("_force_rule")).alias("_forced"),
            # Everything held stays red, whatever the capacity.
            (pl.col("_force_watch") | pl.col("_force_rule")).alias("_held"),
        )
    )
    # The risk slice first: the red capacity left after the holds' slots, best free items first.
    frame = frame.with_columns(
        pl.max_horizontal(
            pl.lit(0, dtype=pl.Int64),
            pl.col("_red_capacity") - pl.col("_forced").cast(pl.Int64).sum().over(port),
        ).alias("_risk_slots"),
        (~pl.col("_held")).cast(pl.Int64).cum_sum().over(port).alias("_unforced_rank"),
    ).with_columns(
        (~pl.col("_held") & (pl.col("_unforced_rank") <= pl.col("_risk_slots"))).alias("_risk")
    )
    # The random pool is what neither the holds nor the risk slice took, numbered 1..n in the
    # canonical order: the draw comes on top and never takes a risk slot, and training's inverse
    # rate (random rows / rows the policy left) describes it exactly.
    left = ~pl.col("_held") & ~pl.col("_risk")
    frame = frame.with_columns(
        pl.when(left).then(left.cast(pl.Int64).cum_sum().over(port)).alias("_candidate")
    )
    pool_sizes = frame.group_by("port_of_discharge").agg(pl.col("_candidate").max())
    red_capacity = dict(zip(ports, (red for red, _ in capacities), strict=True))
    drawn = _random_draws(dict(pool_sizes.iter_rows()), red_capacity, policy, day)
    frame = frame.join(
        drawn, on=["port_of_discharge", "_candidate"], how="left", maintain_order="left"
    ).with_columns(pl.col("_random").fill_null(False))
    rest = left & ~pl.col("_random")
    frame = frame.with_columns(
        pl.when(rest).then(rest.cast(pl.Int64).cum_sum().over(port)).alias("_rest_rank")
    ).with_columns(
        pl.when(pl.col("_hold_lead"))
        .then(_WATCHLIST)
        .when(pl.col("_force_rule"))
        .then(_RULE)
        .when(pl.col("_force_watch"))
        .then(_CONSIGNMENT)
        .when(pl.col("_risk"))
        .then(_RED)
        .when(pl.col("_random"))
        .then(_RANDOM)
        .when(pl.col("_rest_rank") <= pl.col("_yellow_capacity"))
        .then(_YELLOW)
        .otherwise(_GREEN)
        .alias("_group")
    )
    # The order: holds that took a slot first (watch list, then legal-hold rules), then every
    # other item by its expected chance of a finding, whatever its lane. A random item or the
    # rest of a held consignment is red but no likelier to hold a finding than its score says:
    # placed above better items, it would push them out of any budget smaller than the lane
    # (decision 0042 measured listing a held consignment whole: it spent a small budget on
    # covers the model already ranked below the consignment's threat line).
    lead = pl.when(pl.col("_group") <= _RULE).then(pl.col("_group")).otherwise(_RULE + 1)
    order = frame.sort("_port_index", lead, "_pos").select(
        "_row", "_group", "_red_capacity", "_yellow_capacity"
    )
    return wide.drop("_row")[order["_row"]].with_columns(order.drop("_row"))


def _random_draws(
    pool_sizes: Mapping[str, int | None],
    red_capacity: Mapping[str, int],
    policy: SelectionPolicy,
    day: date,
) -> pl.DataFrame:
    """(port, candidate number) of the items drawn at random, without replacement, per port.

    Candidates are numbered in the canonical order (score, then key), so the draw does not
    depend on the order the scores arrived in.
    """
    ports: list[str] = []
    candidates: list[int] = []
    for port in sorted(pool_sizes):
        size = pool_sizes[port] or 0
        quota = min(policy.random_quota(red_capacity[port]), size)
        if quota <= 0:
            continue
        rng = np.random.default_rng(port_seed(policy.seed, day, port))
        picks = rng.choice(size, size=quota, replace=False)
        ports.extend([port] * quota)
        candidates.extend(int(i) + 1 for i in picks)
    return pl.DataFrame(
        {"port_of_discharge": ports, "_candidate": candidates, "_random": [True] * len(ports)},
        schema={
            "port_of_discharge": pl.String(),
            "_candidate": pl.Int64(),
            "_random": pl.Boolean(),
        },
    )


def _summaries(ranked: pl.DataFrame) -> tuple[PortSelection, ...]:
    counts = (
        ranked.group_by("port_of_discharge", "_group", "_red_capacity", "_yellow_capacity")
        .len()
        .sort("port_of_discharge", "_group")
    )
    result = []
    for (port, red_capacity, yellow_capacity), part in counts.group_by(
        "port_of_discharge", "_red_capacity", "_yellow_capacity", maintain_order=True
    ):
        by_group = dict(zip(part["_group"], part["len"], strict=True))
        result.append(
            PortSelection(
                port=str(port),
                rows=int(part["len"].sum()),
                red_capacity=int(red_capacity),
                yellow_capacity=int(yellow_capacity),
                watchlist=by_group.get(_WATCHLIST, 0) + by_group.get(_CONSIGNMENT, 0),
                rule=by_group.get(_RULE, 0),
                random=by_group.get(_RANDOM, 0),
                red=sum(
                    by_group.get(g, 0) for g in (_WATCHLIST, _RULE, _CONSIGNMENT, _RANDOM, _RED)
                ),
                yellow=by_group.get(_YELLOW, 0),
                green=by_group.get(_GREEN, 0),
                consignment=by_group.get(_CONSIGNMENT, 0),
            )
        )
    return tuple(result)


def _to_contract(ranked: pl.DataFrame, day: date, run_id: str) -> pl.DataFrame:
    group = pl.col("_group")
    lane = (
        pl.when(group <= _RANDOM)
        .then(pl.lit("red"))
        .when(group == _YELLOW)
        .then(pl.lit("yellow"))
        .otherwise(pl.lit("green"))
    )
    reason = (
        pl.when(group.is_in([_WATCHLIST, _CONSIGNMENT]))
        .then(pl.lit("watchlist"))
        .when(group == _RULE)
        .then(pl.lit("rule"))
        .when(group == _RANDOM)
        .then(pl.lit("random"))
        .when((group <= _YELLOW) & pl.col("_watch_lifted"))
        .then(pl.lit("watchlist"))
        .when((group <= _YELLOW) & pl.col("_rule_lifted"))
        .then(pl.lit("rule"))
        .when(group <= _YELLOW)
        .then(pl.lit("risk"))
        .otherwise(pl.lit(None, dtype=pl.String()))
    )
    model_reasons = pl.when(pl.col("reasons").str.strip_chars() != "").then(pl.col("reasons"))
    score_words = pl.format(
        "risk score {} (" + ", ".join(f"{t.label} {{}}" for t in threats.THREATS) + ")",
        pl.col("risk_score").round(2),
        *(pl.col(t.score_column).round(2) for t in threats.THREATS),
    )
    # Inspectors read why an item is on the list first, then what drives its score.
    reasons = pl.concat_str(
        [
            pl.col("_watch_text"),
            pl.col("_rule_text"),
            pl.when(group == _RANDOM).then(pl.lit(RANDOM_REASON)),
            pl.when(~group.is_in([_WATCHLIST, _CONSIGNMENT])).then(
                pl.format(COVERED_REASON, pl.col("_covered_by"))
            ),
            model_reasons,
        ],
        separator="; ",
        ignore_nulls=True,
    )
    reasons = (
        pl.when(reasons != "")
        .then(reasons)
        .when(group <= _YELLOW)
        .then(score_words)
        .otherwise(pl.lit(None, dtype=pl.String()))
    )
    return (
        ranked.with_columns(
            pl.lit(day, dtype=pl.Date()).alias("list_date"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("port_of_discharge").alias("rank"),
            lane.alias("lane"),
            reason.alias("selection_reason"),
            reasons.alias("reasons"),
            pl.lit(run_id, dtype=pl.String()).alias("run_id"),
        )
        .select(RANKED_LIST.names)
        .cast(pl.Schema(RANKED_LIST.polars_schema))
    )


def read_day_inputs(
    scores_zone: Path, day: date
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Scores, rule hits and watch-list hits of one day's scores partition (hits may be absent)."""
    partition = layout.partition(scores_zone, day)
    scores_path = partition / SCORES_FILE
    if not scores_path.is_file():
        raise FileNotFoundError(f"{scores_path}: no scores for {day}; run the score stage first")
    scores = pl.read_parquet(scores_path)
    rules_path = partition / RULE_HITS_FILE
    watch_path = partition / WATCHLIST_HITS_FILE
    rule_hits = (
        pl.read_parquet(rules_path) if rules_path.is_file() else pl.DataFrame(schema=HITS_SCHEMA)
    )
    watchlist_hits = (
        pl.read_parquet(watch_path)
        if watch_path.is_file()
        else pl.DataFrame(schema=WATCHLIST_HITS_SCHEMA)
    )
    return scores, rule_hits, watchlist_hits


def night_rules(
    settings: Settings, day: date, rule_paths: Sequence[Path] | None = None
) -> list[Rule]:
    """The rules of a night: from `rule_paths`, else the settings' folders, else the starter set."""
    paths = rule_paths or settings.rules_dirs or None
    return rules_valid_on(load_rules(paths) if paths else load_starter_rules(), day)


def day_evidence(settings: Settings, day: date) -> Evidence:
    """Rule and watch-list counts on inspections recorded before `day` (pipelines/evidence.py)."""
    return measure_evidence(
        settings, day, night_rules(settings, day), settings.precision_window_days
    )


def select_day(
    settings: Settings,
    day: date,
    run_id: str,
    policy: SelectionPolicy | None = None,
    evidence: Evidence | None = None,
) -> Selection:
    """The stage: read the day's scores partition, measure past precision, select lanes (writes
    nothing)."""
    scores, rule_hits, watchlist_hits = read_day_inputs(layout.scores_table(settings), day)
    return select_lanes(
        scores,
        rule_hits,
        watchlist_hits,
        policy=policy or policy_from_settings(settings),
        day=day,
        run_id=run_id,
        evidence=evidence if evidence is not None else day_evidence(settings, day),
    )


def precision_report(
    rules: Sequence[Rule], evidence: Evidence, policy: SelectionPolicy
) -> dict[str, object]:
    """The run report's view of the precisions: every rule of the night and every watch-list cell
    measured, with prior, counts and posterior."""
    catalogue = pl.DataFrame(
        {
            "rule_id": [r.rule_id for r in rules],
            "weight": [r.weight for r in rules],
            "force_red": [r.force == "red" for r in rules],
        },
        schema={"rule_id": pl.String(), "weight": pl.Float64(), "force_red": pl.Boolean()},
    )
    rule_rows = rule_precision(catalogue, evidence, policy).join(
        catalogue.select("rule_id", "force_red"), on="rule_id", how="left"
    )
    cells = evidence.watchlist.with_columns(
        beta_mean(
            pl.lit(policy.watchlist_prior),
            policy.prior_strength,
            pl.col("inspected"),
            pl.col("findings"),
        ).alias("precision")
    )
    return {
        "since": evidence.since.isoformat() if evidence.since else None,
        "inspected_items": evidence.inspected_items,
        "prior_strength": policy.prior_strength,
        "rule_prior_scale": policy.rule_prior_scale,
        "watchlist_prior": policy.watchlist_prior,
        "rules": [
            {**row, **{k: round(row[k], 4) for k in ("prior", "precision", "lift")}}
            for row in rule_rows.select(
                "rule_id",
                "weight",
                "prior",
                "force_red",
                "inspected",
                "findings",
                "precision",
                "lift",
            ).iter_rows(named=True)
        ],
        "watchlist": [
            {**row, "precision": round(row["precision"], 4)} for row in cells.iter_rows(named=True)
        ],
    }


def record_selection(
    settings: Settings, day: date, run_id: str, folder: Path
) -> tuple[Selection, dict[str, object]]:
    """The select stage's work for the nightly run: select, keep the red slices in `folder` for
    the run report, and return the selection with its summary."""
    policy = policy_from_settings(settings)
    evidence = day_evidence(settings, day)
    selection = select_day(settings, day, run_id, policy, evidence)
    write_parquet(selection.slices, folder / SLICES_FILE)
    summary: dict[str, object] = {
        "run_id": run_id,
        "rows": selection.ranked.height,
        "notes": selection.notes,
        "ports": {p.port: p.as_dict() for p in selection.ports},
        "precision": precision_report(night_rules(settings, day), evidence, policy),
    }
    return selection, summary
