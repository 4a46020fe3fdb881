"""Watch-list screening benchmark: precision/recall on the evaluation set, and throughput.

Run: `.venv/bin/python benchmarks/screening.py [--rows 1000000] [--distinct 60000]`.
Uses the list copies shipped in contracts/data/watchlists (UN 2024-09-26 and OFAC 2021-04), builds
the evaluation set from them (pipelines/watchlists/evaluation.py), prints the tables and writes
them to benchmarks/results/screening.md.

Ordinary names (`--sets-only` runs just these, in seconds): the share of ordinary trade names
(common trade words x legal forms x a few cities/regions, incl. the issue-12 examples such as
"Pioneer Industrial Limited") that hit, and the share that would be held; and the share of typo
and transposition variants of short UN individual names that are still found, and held.

Throughput: a night of `--rows` parties drawn with a heavy-tailed repeat pattern (a few traders
file most declarations) from `--distinct` synthetic names, plus 0.1% variants of listed names.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from features.screening import DEFAULT_THRESHOLD, WatchlistIndex, build_index, screen
from pipelines.io import write_text
from pipelines.watchlists.entries import SHIPPED
from pipelines.watchlists.evaluation import (
    COMPANY_WORDS,
    GIVEN_NAMES,
    PLACES,
    PRODUCTS,
    SURNAMES,
    build_evaluation_set,
    evaluate,
)
from pipelines.watchlists.ofac import load_ofac
from pipelines.watchlists.shipped import OFAC_FOLDER, OFAC_VERSION
from pipelines.watchlists.un import load_un
from simulator.names import name_variant

RESULTS = Path(__file__).parent / "results" / "screening.md"
SCENARIO = "watchlist-party-variant.yaml"
SYLLABLES = (
    "hua", "xin", "tai", "kang", "da", "wo", "sun", "mar", "tek", "lin", "ro", "va", "nor",
    "del", "ka", "zen", "ori", "bel", "sta", "qua", "mi", "fu", "jin", "po", "lu", "ber", "gan",
)  # fmt: skip
LEGAL = ("Ltd", "LLC", "GmbH", "Co., Ltd.", "S.A.", "B.V.", "Pvt Ltd", "JSC", "S.r.l.", "")


def _synthetic_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        if rng.random() < 0.8:
            brand = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).title()
            parts = [brand, rng.choice(PRODUCTS)]
            if rng.random() < 0.5:
                parts.insert(0, rng.choice(PLACES))
            if rng.random() < 0.6:
                parts.append(rng.choice(COMPANY_WORDS))
            parts.append(rng.choice(LEGAL))
            names.add(" ".join(p for p in parts if p))
        else:
            names.add(f"{rng.choice(GIVEN_NAMES)} {rng.choice(SURNAMES)} {rng.choice(LEGAL)}")
    return sorted(names)


def _night(rows: int, distinct: int, variants: list[str], seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    pool = _synthetic_names(distinct, rng)
    # Zipf-like repeats: the k-th most active trader files about 1/k as often as the first.
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    drawn = rng.choices(pool, weights=weights, k=rows - rows // 1000)
    drawn += rng.choices(variants, k=rows // 1000)
    rng.shuffle(drawn)
    countries = ("CN", "DE", "AE", "TR", "IN", "US", "RU", "KR", None)
    return pl.DataFrame(
        {
            "party_key": [str(i) for i in range(rows)],
            "name": drawn,
            "country": [rng.choice(countries) for _ in range(rows)],
        }
    )


def _simulator_recall(index: WatchlistIndex, seed: int, per_entry: int = 100) -> tuple[int, int]:
    """Found / generated disguised names of the simulator's watch-list scenario."""
    scenario_file = resources.files("simulator") / "scenarios" / SCENARIO
    listed = yaml.safe_load(scenario_file.read_text(encoding="utf-8"))["watchlist"]
    rng = np.random.default_rng(seed)
    rows = [
        (f"{entry['reference_number']}-{i}", name_variant(entry["name"], rng), entry["country"])
        for entry in listed
        for i in range(per_entry)
    ]
    parties = pl.DataFrame(rows, schema=["party_key", "name", "country"], orient="row")
    hits = screen(parties, index, DEFAULT_THRESHOLD).filter(
        pl.col("party_key").str.split("-").list.first() == pl.col("entry_id")
    )
    return hits.get_column("party_key").n_unique(), parties.height


ORDINARY_WORDS = (
    "Pioneer", "Horizon", "Sunrise", "Global", "General", "International", "Golden", "Royal",
    "United", "Eastern", "Pacific", "Ocean", "Silver", "Prime", "Unity", "Summit", "Delta",
    "Alpha", "Victory", "Future", "Modern", "Green", "Orient", "Phoenix", "Crown", "Eagle",
    "Diamond", "Express", "Atlas", "Star",
)  # fmt: skip
ORDINARY_SECOND = (
    "Industrial", "Trading", "Company", "Group", "Logistics", "Import Export", "Holdings",
    "Enterprises", "Shipping", "Supply", "",
)  # fmt: skip
ORDINARY_LEGAL = ("Limited", "Co. Ltd", "JSC", "LLC", "GmbH", "Group", "S.A.", "")
ORDINARY_PLACES = ("", "Shanghai", "Dubai", "Istanbul", "Hamburg", "Mumbai", "Asia", "Middle East")
ORDINARY_COUNTRIES = ("CN", "AE", "TR", "DE", "IN", "US", "KR", "RU")
ISSUE_EXAMPLES = (
    "Pioneer Industrial Limited",
    "Horizon Industrial Co. Ltd",
    "Horizon Company Limited",
    "Sunrise JSC",
    "Global Industrial Group",
)


def ordinary_names(sample: int, seed: int) -> pl.DataFrame:
    """Ordinary trade names (none is meant to be listed): the issue examples plus a sample of
    word x word x legal form x place, each with a common trading country."""
    rng = random.Random(seed)
    combos = [
        " ".join(p for p in (place, word, second, legal) if p)
        for word in ORDINARY_WORDS
        for second in ORDINARY_SECOND
        for legal in ORDINARY_LEGAL
        for place in ORDINARY_PLACES
        if word != second
    ]
    chosen = list(ISSUE_EXAMPLES) + rng.sample(sorted(set(combos)), min(sample, len(combos)))
    return pl.DataFrame(
        {
            "party_key": [f"o{i}" for i in range(len(chosen))],
            "name": chosen,
            "country": [rng.choice(ORDINARY_COUNTRIES) for _ in chosen],
        }
    )


def _misspell(name: str, rng: random.Random, transpose: bool) -> str | None:
    """One typo (a changed letter) or one swap of adjacent letters in a 5+ letter word."""
    words = name.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return None
    i = rng.choice(long_words)
    word = words[i]
    at = rng.randrange(1, len(word) - 1)
    if transpose:
        if word[at].lower() == word[at + 1].lower():
            return None
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    else:
        letters = [c for c in "AEIOUNRSTLMK" if c != word[at].upper()]
        word = word[:at] + rng.choice(letters) + word[at + 1 :]
    words[i] = word
    return " ".join(words)


def short_person_variants(entries: pl.DataFrame, seed: int) -> pl.DataFrame:
    """A typo and a transposition of each UN individual's primary name of two or three words,
    the party country being the entry's first country (none when it lists none)."""
    rng = random.Random(seed)
    people = entries.filter(
        (pl.col("list_name") == "un")
        & (pl.col("entity_type") == "individual")
        & (pl.col("name_quality") == "primary")
        & pl.col("name").str.split(" ").list.len().is_between(2, 3)
    ).sort("entry_id")
    rows: list[tuple[str, str, str | None, str]] = []
    for entry_id, name, countries in people.select("entry_id", "name", "countries").iter_rows():
        for transpose in (False, True):
            variant = _misspell(name, rng, transpose)
            if variant and variant.upper() != name.upper():
                country = countries[0] if countries else None
                kind = "transposition" if transpose else "typo"
                rows.append((f"{entry_id}|{kind}|{len(rows)}", variant, country, entry_id))
    return pl.DataFrame(rows, schema=["party_key", "name", "country", "entry_id"], orient="row")


def _held(hits: pl.DataFrame) -> pl.DataFrame:
    # Before hits carried `hold`, every hit was a forced red.
    return hits.filter("hold") if "hold" in hits.columns else hits


def name_set_figures(index: WatchlistIndex, entries: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Hit and hold shares on the ordinary names and the short-person variants."""
    ordinary = ordinary_names(3000, seed)
    ordinary_hits = screen(ordinary, index, DEFAULT_THRESHOLD)
    examples = ordinary.head(len(ISSUE_EXAMPLES)).get_column("party_key").implode()
    variants = short_person_variants(entries, seed)
    variant_hits = screen(variants.drop("entry_id"), index, DEFAULT_THRESHOLD).join(
        variants.select("party_key", pl.col("entry_id").alias("expected")), on="party_key"
    )
    true_hits = variant_hits.filter(pl.col("entry_id") == pl.col("expected"))

    def share(hits: pl.DataFrame, total: int) -> str:
        found = hits.get_column("party_key").n_unique()
        return f"{found / max(total, 1):.3f} ({found} / {total})"

    return pl.DataFrame(
        {
            "measure": [
                "ordinary trade names: share hit",
                "ordinary trade names: share held",
                f"issue examples ({len(ISSUE_EXAMPLES)}): share hit",
                f"issue examples ({len(ISSUE_EXAMPLES)}): share held",
                "UN short person names, typo/transposition: share found",
                "UN short person names, typo/transposition: share held",
            ],
            "value": [
                share(ordinary_hits, ordinary.height),
                share(_held(ordinary_hits), ordinary.height),
                share(ordinary_hits.filter(pl.col("party_key").is_in(examples)), 5),
                share(_held(ordinary_hits).filter(pl.col("party_key").is_in(examples)), 5),
                share(true_hits, variants.height),
                share(_held(true_hits), variants.height),
            ],
        }
    )


def _markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.iter_rows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the evaluation and the throughput measurement; print and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=60_000)
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--sets-only",
        action="store_true",
        help="only the ordinary-name and short-person-variant figures (printed, not written)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    un = load_un(SHIPPED / "un_sc_consolidated_2024-09-26.xml")
    ofac = load_ofac(
        OFAC_FOLDER / "sdn.csv", OFAC_VERSION, OFAC_FOLDER / "alt.csv", OFAC_FOLDER / "add.csv"
    )
    entries = pl.concat([un.entries, ofac.entries])
    loaded = time.perf_counter()
    index = build_index(entries)
    indexed = time.perf_counter()
    name_sets = name_set_figures(index, entries, args.seed)
    if args.sets_only:
        print(_markdown(name_sets))
        return

    evaluation_set = build_evaluation_set(entries, args.seed, args.per_kind)
    thresholds = [round(0.70 + 0.02 * i, 2) for i in range(15)]
    result = evaluate(evaluation_set, index, thresholds, floor=0.6)
    at_default = result.curve.filter(pl.col("threshold") == DEFAULT_THRESHOLD).row(0, named=True)
    # Vessels and aircraft are not screened against parties: their variants cannot be found.
    party_targets = evaluation_set.join(
        entries.select("list_name", "entry_id", "entity_type").unique(["list_name", "entry_id"]),
        on=["list_name", "entry_id"],
        how="left",
    ).filter(~pl.col("entity_type").is_in(["vessel", "aircraft"]).fill_null(False))
    party_result = evaluate(party_targets.drop("entity_type"), index, [DEFAULT_THRESHOLD], 0.6)
    party_recall = party_result.curve.row(0, named=True)["recall"]

    simulator_found, simulator_total = _simulator_recall(index, args.seed)
    variants = evaluation_set.filter("is_match").get_column("name").to_list()
    night = _night(args.rows, args.distinct, variants, args.seed)
    fresh = build_index(entries)  # a night starts with an empty name cache
    begin, begin_cpu = time.perf_counter(), time.process_time()
    hits = screen(night, fresh, DEFAULT_THRESHOLD)
    seconds = time.perf_counter() - begin
    cpu_seconds = time.process_time() - begin_cpu
    distinct_names = night.get_column("name").n_unique()
    variant_rows = night.filter(pl.col("name").is_in(variants)).get_column("party_key")
    hit_rows = hits.get_column("party_key").unique()
    ordinary_hits = hits.filter(~pl.col("party_key").is_in(variant_rows.implode()))

    summary = pl.DataFrame(
        {
            "measure": [
                "listed names indexed (UN 2024-09-26 + OFAC 2021-04)",
                "load both lists (s)",
                "build index (s)",
                "evaluation names (variants / near misses)",
                "threshold (chosen, best F1 on the curve)",
                "precision at threshold",
                "recall at threshold",
                "recall at threshold, variants of vessels/aircraft left out",
                f"simulator's disguised UN parties found ({SCENARIO})",
                "night: party rows",
                "night: distinct names",
                "night: screening time, wall clock (s)",
                "night: screening time, CPU of this process (s)",
                "night: parties per second (wall clock)",
                "night: parties per CPU second",
                "night: distinct names per CPU second",
                "night: hits (party rows with a hit)",
                "night: variant rows found / planted",
                "night: ordinary-name rows with a hit (distinct names)",
            ],
            "value": [
                f"{len(index):,}",
                f"{loaded - started:.1f}",
                f"{indexed - loaded:.1f}",
                f"{evaluation_set.filter('is_match').height:,} / "
                f"{evaluation_set.filter(~pl.col('is_match')).height:,}",
                f"{DEFAULT_THRESHOLD:.2f} (best F1 at {result.chosen_threshold:.2f})",
                f"{at_default['precision']:.3f}",
                f"{at_default['recall']:.3f}",
                f"{party_recall:.3f} ({party_targets.filter('is_match').height:,} variants)",
                f"{simulator_found} / {simulator_total}",
                f"{night.height:,}",
                f"{distinct_names:,}",
                f"{seconds:.1f}",
                f"{cpu_seconds:.1f}",
                f"{night.height / seconds:,.0f}",
                f"{night.height / cpu_seconds:,.0f}",
                f"{distinct_names / cpu_seconds:,.0f}",
                f"{hits.height:,} ({hit_rows.len():,})",
                f"{hit_rows.is_in(variant_rows.implode()).sum():,} / {variant_rows.len():,}",
                f"{ordinary_hits.get_column('party_key').n_unique():,} "
                f"({night.filter(pl.col('party_key').is_in(ordinary_hits.get_column('party_key').implode())).get_column('name').n_unique():,})",
            ],
        }
    )
    report = "\n\n".join(
        [
            "# Watch-list screening benchmark",
            f"Command: `.venv/bin/python benchmarks/screening.py --rows {args.rows} "
            f"--distinct {args.distinct}`  \nMachine: {platform.machine()}, {os.cpu_count()} "
            f"cores, load average {os.getloadavg()[0]:.1f} at the end, Python "
            f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
            "The machine was shared: CPU seconds are the steadier measure.",
            "## Summary",
            _markdown(summary),
            "## Ordinary trade names and short person-name variants",
            _markdown(name_sets),
            "## Precision and recall by threshold (name evidence only)",
            _markdown(result.curve),
            f"## By kind of test name, at {result.chosen_threshold:.2f}",
            _markdown(result.by_kind),
            f"## False hits at {result.chosen_threshold:.2f} (first 15)",
            _markdown(result.false_hits.head(15)),
        ]
    )
    print(report)
    write_text(report + "\n", RESULTS)


if __name__ == "__main__":
    main()
