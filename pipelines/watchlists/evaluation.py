"""Evaluation set for name screening, built deterministically from the real lists.

Grain: one row per test name: a true variant of one listed name (labelled with its entry) or a
near-miss that names nobody on the lists. Variants: transliteration (romanisation swaps such as
u/o, e/i, k/q, and a round trip through Cyrillic script), one typo, reordered tokens, a changed
legal form, punctuation and spacing. Near misses: a listed name with its most distinctive token
swapped for another entry's token, a listed person's name with another given name (a relative or a
namesake), a listed given name with an ordinary surname ("George Bush" against "George Habash"),
ordinary person names, and ordinary company names.

Precision and recall are counted per test name: a variant is found when its entry is among the
hits; a test name with any hit that is not its own entry counts as a false hit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import polars as pl

from features.names import ARTICLES, LEGAL_FORMS, fold_token, name_tokens
from features.screening import WatchlistIndex, screen

POSITIVE_KINDS = ("transliteration", "cyrillic", "typo", "reordered", "legal_form", "punctuation")
NEGATIVE_KINDS = (
    "token_swap",
    "other_given_name",
    "given_name_other_surname",
    "common_person",
    "common_company",
)

_ROMANISATION = (
    ("u", "o"), ("o", "u"), ("i", "e"), ("e", "i"), ("ee", "i"), ("ou", "u"), ("y", "i"),
    ("q", "k"), ("k", "q"), ("ph", "f"), ("dh", "z"), ("j", "dj"), ("ss", "s"), ("mm", "m"),
)  # fmt: skip
_CYRILLIC = {
    "shch": "щ", "sh": "ш", "ch": "ч", "kh": "х", "zh": "ж", "ts": "ц", "ya": "я", "yu": "ю",
    "a": "а", "b": "б", "v": "в", "g": "г", "d": "д", "e": "е", "z": "з", "i": "и", "y": "й",
    "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т",
    "u": "у", "f": "ф", "h": "х", "c": "к", "q": "к", "w": "в", "x": "кс", "j": "дж",
}  # fmt: skip
_LEGAL_SUFFIXES = ("LLC", "Ltd", "Co., Ltd.", "GmbH", "S.A.", "OOO", "JSC", "FZE", "Limited")
GIVEN_NAMES = (
    "George", "John", "Maria", "Anna", "Peter", "David", "Michael", "Laura", "Carlos", "Jose",
    "Ahmed", "Mohammed", "Ali", "Omar", "Fatima", "Hassan", "Ivan", "Sergei", "Olga", "Wei",
    "Li", "Jun", "Hiroshi", "Yuki", "Raj", "Priya", "Amit", "Kwame", "Chinedu", "Juan",
    "Luis", "Ana", "Pierre", "Sophie", "Hans", "Klaus", "Marco", "Giulia", "Jan", "Piotr",
)  # fmt: skip
SURNAMES = (
    "Bush", "Smith", "Johnson", "Brown", "Garcia", "Martinez", "Muller", "Schmidt", "Rossi",
    "Bianchi", "Novak", "Kowalski", "Nowak", "Petrov", "Ivanov", "Wang", "Zhang", "Chen",
    "Tanaka", "Suzuki", "Kumar", "Sharma", "Patel", "Okafor", "Mensah", "Silva", "Santos",
    "Dubois", "Martin", "Jensen", "Hansen", "Nielsen", "Andersson", "Larsen", "Yilmaz",
    "Demir", "Kaya", "Haddad", "Nasser", "Farouk",
)  # fmt: skip
PLACES = (
    "Hamburg", "Rotterdam", "Antwerp", "Ningbo", "Shenzhen", "Busan", "Santos", "Mumbai",
    "Izmir", "Durban", "Valencia", "Gdansk", "Genoa", "Piraeus", "Mersin", "Klaipeda",
    "Felixstowe", "Le Havre", "Algeciras", "Tangier", "Colombo", "Chittagong", "Haiphong",
    "Manila", "Jakarta", "Lagos", "Mombasa", "Callao", "Veracruz", "Halifax",
)  # fmt: skip
PRODUCTS = (
    "Textiles", "Steel", "Furniture", "Ceramics", "Paper", "Plastics", "Machinery", "Foods",
    "Electronics", "Chemicals", "Timber", "Fruit", "Seafood", "Auto Parts", "Tiles", "Glass",
    "Garments", "Pharma", "Cables", "Pumps",
)  # fmt: skip
COMPANY_WORDS = ("Trading", "Industries", "Logistics", "Export", "Import", "Group", "Supply")


@dataclass(frozen=True)
class EvaluationResult:
    """Precision and recall at each threshold; recall and false hits at the best-F1 one."""

    curve: pl.DataFrame
    by_kind: pl.DataFrame
    false_hits: pl.DataFrame
    chosen_threshold: float


def _to_cyrillic(name: str) -> str:
    out: list[str] = []
    text = name.lower()
    i = 0
    while i < len(text):
        for size in (4, 2, 1):
            piece = text[i : i + size]
            if piece in _CYRILLIC:
                out.append(_CYRILLIC[piece])
                i += size
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _romanise(name: str, rng: random.Random) -> str | None:
    words = name.split()
    order = list(range(len(words)))
    rng.shuffle(order)
    for position in order:
        word = words[position]
        options = [(a, b) for a, b in _ROMANISATION if a in word.lower() and len(word) >= 4]
        if options:
            old, new = rng.choice(options)
            lowered = word.lower()
            at = lowered.index(old)
            words[position] = word[:at] + new + word[at + len(old) :]
            return " ".join(words)
    return None


TYPO_KINDS = ("delete", "substitute", "transpose", "insert")


def misspell(
    name: str, rng: random.Random, kind: str | None = None, min_length: int = 6
) -> str | None:
    """One slip of the keyboard in one word of `min_length`+ letters (never its first or last
    letter): a dropped, changed, swapped (with its neighbour) or added letter; `kind` picks one
    of `TYPO_KINDS`, else it is drawn. None when no word is long enough or the swap changes
    nothing. Shared by the evaluation set and the benchmark's short-name and entity variants."""
    words = name.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= min_length and w.isalpha()]
    if not candidates:
        return None
    position = rng.choice(candidates)
    word = words[position]
    at = rng.randrange(1, len(word) - 1)
    letter = rng.choice("aeinorstlm")
    kind = kind or rng.choice(TYPO_KINDS)
    if kind not in TYPO_KINDS:
        raise ValueError(f"unknown typo kind {kind!r}; expected one of {', '.join(TYPO_KINDS)}")
    if word.isupper():
        letter = letter.upper()
    if kind == "delete":
        word = word[:at] + word[at + 1 :]
    elif kind == "substitute":
        word = word[:at] + (letter if letter.lower() != word[at].lower() else "x") + word[at + 1 :]
    elif kind == "transpose":
        if word[at - 1].lower() == word[at].lower():
            return None
        word = word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    else:
        word = word[:at] + letter + word[at:]
    words[position] = word
    return " ".join(words)


def _typo(name: str, rng: random.Random) -> str | None:
    return misspell(name, rng)


def _reorder(name: str, rng: random.Random) -> str | None:
    # An article moves with its word ("al Qaida"), as in any real reordering.
    words: list[str] = []
    for word in name.replace(",", " ").split():
        if words and words[-1].lower() in ARTICLES:
            words[-1] = f"{words[-1]} {word}"
        else:
            words.append(word)
    if len(words) < 2:
        return None
    shifted = words[1:] + words[:1] if rng.random() < 0.5 else list(reversed(words))
    return " ".join(shifted) if shifted != words else None


def _legal_form(name: str, rng: random.Random) -> str | None:
    words = name.split()
    stripped = [w for w in words if w.lower().strip(".,") not in LEGAL_FORMS]
    if len(stripped) < 1:
        return None
    return " ".join([*stripped, rng.choice(_LEGAL_SUFFIXES)])


def _punctuation(name: str, rng: random.Random) -> str | None:
    words = name.replace(",", "").split()
    if len(words) < 2:
        return None
    joiner = rng.choice(("-", " - ", ". "))
    at = rng.randrange(1, len(words))
    return (" ".join(words[:at]) + joiner + " ".join(words[at:])).lower()


def _signature(name: str) -> tuple[str, ...]:
    return tuple(sorted(fold_token(t) for t in name_tokens(name)))


def build_evaluation_set(entries: pl.DataFrame, seed: int, per_kind: int = 300) -> pl.DataFrame:
    """Variants and near misses from the listed names (deterministic for a seed)."""
    rng = random.Random(seed)
    usable = (
        entries.filter(
            pl.col("name_quality").is_in(["primary", "good"])
            & pl.col("name").str.contains(r"^[\x00-\x7f]+$")
        )
        .select("list_name", "entry_id", "name", "entity_type")
        .unique(maintain_order=True)
        .sort(["list_name", "entry_id", "name"])
    )
    usable = usable.filter(
        pl.col("name").map_elements(lambda n: len(name_tokens(n)) >= 2, return_dtype=pl.Boolean)
    )
    listed = {_signature(n) for n in entries.get_column("name").to_list()}
    sources = usable.rows(named=True)
    rows: list[dict[str, object]] = []

    def add(name: str, kind: str, label: bool, source: dict[str, str] | None) -> None:
        rows.append(
            {
                "query_id": f"q{len(rows):05d}",
                "name": name,
                "kind": kind,
                "is_match": label,
                "list_name": source["list_name"] if source else None,
                "entry_id": source["entry_id"] if source else None,
                "source_name": source["name"] if source else None,
            }
        )

    makers = {
        "transliteration": _romanise,
        "cyrillic": lambda n, _r: _to_cyrillic(n),
        "typo": _typo,
        "reordered": _reorder,
        "legal_form": _legal_form,
        "punctuation": _punctuation,
    }
    for kind, make in makers.items():
        made = 0
        for source in rng.sample(sources, k=len(sources)):
            if made >= per_kind:
                break
            if kind == "legal_form" and source["entity_type"] != "entity":
                continue
            variant = make(source["name"], rng)
            if variant and variant != source["name"]:
                add(variant, kind, True, source)
                made += 1

    # Near misses must not be (a spelling of) a listed name themselves.
    def add_negative(name: str, kind: str) -> bool:
        if _signature(name) in listed:
            return False
        add(name, kind, False, None)
        return True

    vocabulary = sorted({t for n in usable.get_column("name").to_list() for t in n.split()})
    made = 0
    for source in rng.sample(sources, k=len(sources)):
        if made >= per_kind:
            break
        words = source["name"].split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        other = rng.choice(vocabulary)
        if fold_token(other.lower()) == fold_token(words[longest].lower()):
            continue
        words[longest] = other
        made += add_negative(" ".join(words), "token_swap")
    # Another person sharing a listed person's family names: the hardest near miss.
    made = 0
    for source in rng.sample(sources, k=len(sources)):
        if made >= per_kind:
            break
        words = source["name"].replace(",", "").split()
        if source["entity_type"] != "individual" or len(words) < 3:
            continue
        other = rng.choice(GIVEN_NAMES)
        if any(fold_token(other.lower()) == fold_token(w.lower()) for w in words):
            continue
        # OFAC writes "SURNAME, Given": the given name follows the comma.
        at = len(source["name"].split(",")[0].split()) if "," in source["name"] else 0
        words[at] = other
        made += add_negative(" ".join(words), "other_given_name")
    given = [s["name"].split()[0] for s in sources if s["entity_type"] == "individual"]
    made = 0
    while made < per_kind:
        person = f"{rng.choice(given)} {rng.choice(SURNAMES)}"
        made += add_negative(person, "given_name_other_surname")
    made = 0
    while made < per_kind:
        made += add_negative(f"{rng.choice(GIVEN_NAMES)} {rng.choice(SURNAMES)}", "common_person")
    made = 0
    while made < per_kind:
        company = (
            f"{rng.choice(PLACES)} {rng.choice(PRODUCTS)} {rng.choice(COMPANY_WORDS)} "
            f"{rng.choice(_LEGAL_SUFFIXES)}"
        )
        made += add_negative(company, "common_company")
    return pl.DataFrame(rows).unique("name", keep="first", maintain_order=True)


def evaluate(
    evaluation_set: pl.DataFrame, index: WatchlistIndex, thresholds: list[float], floor: float
) -> EvaluationResult:
    """Precision and recall per threshold (name evidence only: test names carry no country)."""
    parties = evaluation_set.select(
        pl.col("query_id").alias("party_key"), "name", pl.lit(None, pl.String).alias("country")
    )
    hits = screen(parties, index, floor).select(
        pl.col("party_key").alias("query_id"),
        pl.col("list_name").alias("hit_list"),
        pl.col("entry_id").alias("hit_entry"),
        "matched_name",
        "score",
    )
    # One party is often listed under several entries (by the UN and by OFAC, or once per
    # branch): an entry sharing any listed name (up to normalisation) with the source entry is
    # the same party, so a right answer too.
    signature = pl.col("name").map_elements(lambda n: "|".join(_signature(n)), pl.String)
    listed = index.rows.select(
        pl.col("list_name").alias("hit_list"),
        pl.col("entry_id").alias("hit_entry"),
        signature.alias("signature"),
    ).unique()
    sources = evaluation_set.filter("is_match").select(
        "query_id",
        pl.col("list_name").alias("hit_list"),
        pl.col("entry_id").alias("hit_entry"),
    )
    acceptable = pl.concat(
        [
            sources,
            sources.join(listed, on=["hit_list", "hit_entry"])
            .select("query_id", "signature")
            .join(listed, on="signature")
            .select("query_id", "hit_list", "hit_entry"),
        ]
    ).unique()
    labelled = (
        hits.join(evaluation_set, on="query_id")
        .join(
            acceptable.with_columns(correct=pl.lit(True)),
            on=["query_id", "hit_list", "hit_entry"],
            how="left",
        )
        .with_columns(pl.col("correct").fill_null(False))
    )
    positives = evaluation_set.filter("is_match").height
    curve_rows: list[dict[str, float | int]] = []
    for threshold in thresholds:
        above = labelled.filter(pl.col("score") >= threshold)
        per_query = above.group_by("query_id").agg(
            pl.col("correct").any().alias("found"), (~pl.col("correct")).any().alias("false_hit")
        )
        found = per_query.filter("found").height
        false_hits = per_query.filter("false_hit").height
        with_hits = per_query.height
        precision = (with_hits - false_hits) / with_hits if with_hits else 1.0
        recall = found / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        curve_rows.append(
            {
                "threshold": threshold,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "names_with_hits": with_hits,
                "names_with_false_hits": false_hits,
            }
        )
    curve = pl.DataFrame(curve_rows)
    best = curve.sort(["f1", "threshold"], descending=[True, False]).row(0, named=True)
    chosen = labelled.filter(pl.col("score") >= best["threshold"])
    found_ids = chosen.filter("correct").get_column("query_id").unique()
    false_ids = chosen.filter(~pl.col("correct")).get_column("query_id").unique()
    by_kind = (
        evaluation_set.with_columns(
            found=pl.col("query_id").is_in(found_ids.implode()),
            false_hit=pl.col("query_id").is_in(false_ids.implode()),
        )
        .group_by("kind", "is_match")
        .agg(
            pl.len().alias("names"),
            pl.col("found").mean().alias("recall"),
            pl.col("false_hit").mean().alias("false_hit_rate"),
        )
        .sort(["is_match", "kind"], descending=[True, False])
    )
    wrong = chosen.filter(~pl.col("correct")).select(
        "kind", "name", "source_name", "matched_name", "hit_list", "hit_entry", "score"
    )
    return EvaluationResult(curve, by_kind, wrong, best["threshold"])
