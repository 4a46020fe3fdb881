"""Watch-list screening benchmark: precision/recall on the evaluation set, and throughput.

Run: `.venv/bin/python benchmarks/screening.py [--rows 1000000] [--distinct 60000]`.
Uses the list copies shipped in contracts/data/watchlists (UN 2024-09-26 and OFAC 2021-04), builds
the evaluation set from them (pipelines/watchlists/evaluation.py), prints the tables and writes
them to benchmarks/results/screening.md.

Name sets (`--sets-only` runs just these, in seconds): the share of ordinary trade names
(common trade words x legal forms x a few cities/regions, names of trade words only, the issue-12
examples such as "Pioneer Industrial Limited"; spellings of listed parties left out) that hit,
and the share that would be held; the share of typo and transposition variants of short UN
individual names, and of UN entity names as filers type them (typos, dropped letters, case,
legal forms, word order), that are still found, and held. Each variant set is screened together
with the ordinary names as one night, so the night's own word counts weigh tokens. Everything is
built from the shipped lists and generated names.

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

from features.names import ARTICLES, fold_token, name_tokens
from features.screening import (
    DEFAULT_THRESHOLD,
    MIN_NAME_LETTERS,
    NON_PARTY_TYPES,
    WatchlistIndex,
    build_index,
    screen,
)
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
    misspell,
)
from pipelines.watchlists.ofac import load_ofac
from pipelines.watchlists.shipped import OFAC_FOLDER, OFAC_VERSION
from pipelines.watchlists.un import load_un
from simulator.names import filer_spelling, name_variant

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


def _simulator_recall(
    index: WatchlistIndex, seed: int, background: pl.DataFrame, per_entry: int = 100
) -> tuple[int, int]:
    """Found / generated disguised names of the simulator's watch-list scenario, screened amid
    `background` names as one night (500 variants of five names alone would make their own
    words look common in trade)."""
    scenario_file = resources.files("simulator") / "scenarios" / SCENARIO
    listed = yaml.safe_load(scenario_file.read_text(encoding="utf-8"))["watchlist"]
    rng = np.random.default_rng(seed)
    rows = [
        (f"{entry['reference_number']}-{i}", name_variant(entry["name"], rng), entry["country"])
        for entry in listed
        for i in range(per_entry)
    ]
    parties = pl.DataFrame(rows, schema=["party_key", "name", "country"], orient="row")
    night = pl.concat([background.select(parties.columns), parties])
    hits = screen(night, index, DEFAULT_THRESHOLD).filter(
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
TRADE_FIRST = ("Global", "General", "International", "United", "Universal", "Worldwide")
TRADE_SECOND = ("Industrial", "Trading", "Logistics", "Supply", "Import Export", "Technology")
TRADE_THIRD = ("Group", "Holdings", "Company", "Enterprises", "Services", "")
ORDINARY_COUNTRIES = ("CN", "AE", "TR", "DE", "IN", "US", "KR", "RU")
ISSUE_EXAMPLES = (
    "Pioneer Industrial Limited",
    "Horizon Industrial Co. Ltd",
    "Horizon Company Limited",
    "Sunrise JSC",
    "Global Industrial Group",
)
ENTITY_VARIANT_KINDS = (
    "typo", "dropped_letter", "transposition", "case", "legal_form", "token_order", "combined",
)  # fmt: skip
"""How filers mistype a listed entity: a changed, dropped or swapped letter, another case, a
legal form added, words in another order, and case + legal form + a typo at once."""


def _signature(name: str) -> tuple[str, ...]:
    return tuple(sorted(fold_token(t) for t in name_tokens(name)))


def ordinary_names(sample: int, seed: int, entries: pl.DataFrame | None = None) -> pl.DataFrame:
    """Ordinary trade names (none is meant to be listed): the issue examples, names made only of
    common trade words ("Universal Logistics Services") and a sample of word x word x legal form
    x place, each with a common trading country. With `entries`, a name that is a spelling of a
    listed name ("Global Trading Group" is an OFAC entity) is left out: a hit on it is right."""
    rng = random.Random(seed)
    combos = [
        " ".join(p for p in (place, word, second, legal) if p)
        for word in ORDINARY_WORDS
        for second in ORDINARY_SECOND
        for legal in ORDINARY_LEGAL
        for place in ORDINARY_PLACES
        if word != second
    ]
    trade_only = [
        " ".join(p for p in (first, second, third, legal) if p)
        for first in TRADE_FIRST
        for second in TRADE_SECOND
        for third in TRADE_THIRD
        for legal in ("Limited", "Co. Ltd", "LLC", "")
    ]
    chosen = list(ISSUE_EXAMPLES)
    chosen += rng.sample(sorted(set(trade_only)), min(sample // 10, len(trade_only)))
    chosen += rng.sample(sorted(set(combos)), min(sample - sample // 10, len(combos)))
    chosen = list(dict.fromkeys(chosen))
    if entries is not None:
        parties = entries.filter(~pl.col("entity_type").is_in(list(NON_PARTY_TYPES)))
        listed = {_signature(n) for n in parties.get_column("name").to_list()}
        chosen = [n for n in chosen if _signature(n) not in listed]
    return pl.DataFrame(
        {
            "party_key": [f"o{i}" for i in range(len(chosen))],
            "name": chosen,
            "country": [rng.choice(ORDINARY_COUNTRIES) for _ in chosen],
        }
    )


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
        for kind in ("substitute", "transpose"):
            variant = misspell(name, rng, kind, min_length=5)
            if variant and variant.upper() != name.upper():
                country = countries[0] if countries else None
                label = "transposition" if kind == "transpose" else "typo"
                rows.append((f"{entry_id}|{label}|{len(rows)}", variant, country, entry_id))
    return pl.DataFrame(rows, schema=["party_key", "name", "country", "entry_id"], orient="row")


def _entity_variant(name: str, kind: str, rng: random.Random) -> str | None:
    if kind == "typo":
        return misspell(name, rng, "substitute", min_length=5)
    if kind == "dropped_letter":
        return misspell(name, rng, "delete", min_length=5)
    if kind == "transposition":
        return misspell(name, rng, "transpose", min_length=5)
    if kind == "case":
        return name.title() if rng.random() < 0.5 else name.lower()
    if kind == "legal_form":
        return f"{name} {rng.choice(LEGAL[:-1])}"
    if kind == "token_order":
        # An article moves with its word: "Qaida Al" is no one's spelling of "Al Qaida".
        words: list[str] = []
        for word in name.split():
            if words and words[-1].lower() in ARTICLES:
                words[-1] = f"{words[-1]} {word}"
            else:
                words.append(word)
        return " ".join(words[1:] + words[:1]) if len(words) >= 2 else None
    typo = misspell(name.title(), rng, None, min_length=5)
    return f"{typo} {rng.choice(LEGAL[:-1])}" if typo else None


def _entity_names(entries: pl.DataFrame) -> pl.DataFrame:
    """The entity names of `entries` a filer would type (primary or good quality, ASCII), one row
    per (list, entry, name), sorted: list_name, entry_id, name, countries."""
    return (
        entries.filter(
            (pl.col("entity_type") == "entity")
            & pl.col("name_quality").is_in(["primary", "good"])
            & pl.col("name").str.contains(r"^[\x00-\x7f]+$")
        )
        .select("list_name", "entry_id", "name", "countries")
        .unique(["list_name", "entry_id", "name"])
        .sort("list_name", "entry_id", "name")
    )


def un_entity_variants(entries: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Each kind of `ENTITY_VARIANT_KINDS` applied to each UN entity's primary and good names
    (ASCII ones), as a filer would type them; the party country is the entry's first country.
    Names the index leaves out for having under `MIN_NAME_LETTERS` letters (acronyms such as
    "LRA") are left out here too: no spelling of them can be found by design."""
    rng = random.Random(seed)
    names = _entity_names(entries.filter(pl.col("list_name") == "un")).drop("list_name")
    names = names.filter(
        pl.col("name").map_elements(
            lambda n: sum(len(t) for t in name_tokens(n)) >= MIN_NAME_LETTERS, pl.Boolean
        )
    )
    rows: list[tuple[str, str, str | None, str, str]] = []
    for entry_id, name, countries in names.iter_rows():
        for kind in ENTITY_VARIANT_KINDS:
            variant = _entity_variant(name, kind, rng)
            if variant and variant != name:
                country = countries[0] if countries else None
                rows.append((f"e{len(rows)}", variant, country, entry_id, kind))
    return pl.DataFrame(
        rows, schema=["party_key", "name", "country", "entry_id", "kind"], orient="row"
    )


def filer_spellings(entries: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Each UN and OFAC entity name (primary or good, ASCII) as the simulator's filing clerk
    types it (`simulator.names.filer_spelling`: trade words shortened, punctuation and a closing
    legal form dropped, the invoice's case, sometimes a slip), kept when it differs from the name
    other than by case; the party country is the entry's first country."""
    rng = np.random.default_rng(seed)
    names = _entity_names(entries)
    rows: list[tuple[str, str, str | None, str]] = []
    for _, entry_id, name, countries in names.iter_rows():
        variant = filer_spelling(name, rng)
        if variant.upper() != name.upper():
            country = countries[0] if countries else None
            rows.append((f"f{len(rows)}", variant, country, entry_id))
    return pl.DataFrame(rows, schema=["party_key", "name", "country", "entry_id"], orient="row")


def _held(hits: pl.DataFrame) -> pl.DataFrame:
    # Before hits carried `hold`, every hit was a forced red.
    return hits.filter("hold") if "hold" in hits.columns else hits


def name_set_figures(index: WatchlistIndex, entries: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Hit and hold shares on the ordinary names, the short-person and the entity variants.

    Each variant set is screened together with the ordinary names, as one day's batch: the
    batch's own word counts weigh tokens (`WatchlistIndex.set_trade_names`)."""
    ordinary = ordinary_names(3000, seed, entries)
    examples = ordinary.filter(pl.col("name").is_in(list(ISSUE_EXAMPLES)))
    people = short_person_variants(entries, seed)
    entities = un_entity_variants(entries, seed)

    def day_hits(variants: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        batch = pl.concat([ordinary, variants.select(ordinary.columns)])
        hits = screen(batch, index, DEFAULT_THRESHOLD)
        expected = variants.select("party_key", pl.col("entry_id").alias("expected"))
        found = hits.join(expected, on="party_key").filter(pl.col("entry_id") == pl.col("expected"))
        return hits.filter(pl.col("party_key").str.starts_with("o")), found

    ordinary_hits, person_found = day_hits(people)
    _, entity_found = day_hits(entities)
    filed = filer_spellings(entries, seed)
    _, filed_found = day_hits(filed)
    example_keys = examples.get_column("party_key").implode()

    def share(hits: pl.DataFrame, total: int) -> str:
        found = hits.get_column("party_key").n_unique()
        return f"{found / max(total, 1):.3f} ({found} / {total})"

    measures = [
        ("ordinary trade names: share hit", share(ordinary_hits, ordinary.height)),
        ("ordinary trade names: share held", share(_held(ordinary_hits), ordinary.height)),
        (
            f"issue examples ({examples.height}): share hit",
            share(ordinary_hits.filter(pl.col("party_key").is_in(example_keys)), examples.height),
        ),
        (
            f"issue examples ({examples.height}): share held",
            share(
                _held(ordinary_hits).filter(pl.col("party_key").is_in(example_keys)),
                examples.height,
            ),
        ),
        (
            "UN short person names, typo/transposition: share found",
            share(person_found, people.height),
        ),
        (
            "UN short person names, typo/transposition: share held",
            share(_held(person_found), people.height),
        ),
        ("UN entity names as filers type them: share found", share(entity_found, entities.height)),
        (
            "UN entity names as filers type them: share held",
            share(_held(entity_found), entities.height),
        ),
    ]
    measures += [
        (
            "UN and OFAC entity names as the simulator's clerk types them: share found",
            share(filed_found, filed.height),
        ),
        (
            "UN and OFAC entity names as the simulator's clerk types them: share held",
            share(_held(filed_found), filed.height),
        ),
    ]
    for kind in ENTITY_VARIANT_KINDS:
        of_kind = entities.filter(pl.col("kind") == kind)
        keys = of_kind.get_column("party_key").implode()
        measures.append(
            (
                f"  UN entity variants, {kind}: share found",
                share(entity_found.filter(pl.col("party_key").is_in(keys)), of_kind.height),
            )
        )
    return pl.DataFrame(measures, schema=["measure", "value"], orient="row")


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

    simulator_found, simulator_total = _simulator_recall(
        index, args.seed, ordinary_names(3000, args.seed, entries)
    )
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
