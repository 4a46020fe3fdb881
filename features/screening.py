"""Watch-list screening: blocking and scoring of party names against listed names (pure logic).

Input grain: one row per party (party_key, name, country). Output grain: one row per
(party_key, list_name, entry_id) whose best-matching listed name scores at or above the threshold.

Score (0-1). Both names are normalised (`features.names`) into tokens; each token carries a weight
that grows with its rarity among listed names and, on a batch of 200+ distinct party names (a
night), among those names too (`WatchlistIndex.set_trade_names`): a common given name, a word
common in the night's trade, or a generic word such as "trading" (`GENERIC_WORDS`, compared as
folds; a word no list has one edit from one of them counts as one) says little. Tokens are
aligned one-to-one regardless of order; a pair counts with its similarity (1 - edits/length,
transpositions counting once, the better of spelling and phonetic fold) only within the edits
its length tolerates (`allowed_edits`: none up to four letters, except one in a four-letter word
when both names have three or more words; one up to seven letters, two up to eleven), so "Bush"
never half-matches "Habbash" nor "Ali" "Wali". The name score is the weighted share of both names
covered by aligned pairs. Names written with or without spaces ("AEROCARIBBEAN" / "AERO
CARIBBEAN") are caught by a whole-string comparison, which must also hold without the trade words
("Weisun Trading" is not "WEST SUN TRADE"). A low-quality alias (UN "Low") is multiplied by
`LOW_QUALITY_FACTOR`; a party country among the entry's countries (nationality or address) adds
`COUNTRY_BONUS`. `DEFAULT_THRESHOLD` was chosen from the evaluation curve (docs/watchlists.md).

Entity type: vessel and aircraft entries (OFAC sdnType Vessel/Aircraft, their former names
included) are left out of the index: a declaration names the carrier only by `carrier_code`, and
a ship called PIONEER says nothing about a shipper called "Pioneer Industrial Ltd". A one-token
listed name ("HORIZON") does not hit a longer party name that merely contains it ("Horizon
Industrial"), only the bare name with legal forms or a spacing variant of it.

Hold: a hit is a mandatory hold unless the listed name is weak by shape (one distinctive token,
distinctive tokens of `SHORT_NAME_LETTERS` letters or fewer, or more than half of its tokens
generic trade words); such a name holds only on an exact normalised-name match with a party
country among the entry's countries. Other hits are kept
(they lift the rank) with `hold` false.

Blocking: a listed name is compared only with parties sharing at least a quarter of its selective
keys (the first and last three letters of each folded distinctive token, and the start of the
glued name; a key shared by over `MAX_POSTINGS` names is not selective);
the `CANDIDATE_CAP` closest of those (order-free whole-string similarity) are scored exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel

from features.names import fold_token, name_tokens, order_free_key

DEFAULT_THRESHOLD = 0.90
COMPACT_FLOOR = 0.92
FOLDED_COMPACT_MIN = 10
LOW_QUALITY_FACTOR = 0.9
COUNTRY_BONUS = 0.05
MIN_NAME_LETTERS = 4
MAX_POSTINGS = 400
CANDIDATE_CAP = 30
KEY_SHARE_DENOMINATOR = 4
GENERIC_WEIGHT = 1.0

GENERIC_WORDS: frozenset[str] = frozenset(
    {
        "the", "and", "of", "for", "de", "la", "du", "des", "der", "und", "y", "e", "et", "i",
        "trading", "trade", "traders", "international", "intl", "group", "holding", "holdings",
        "general", "import", "export", "imports", "exports", "logistics", "shipping", "services",
        "service", "enterprise", "enterprises", "industrial", "industries", "industry",
        "commercial", "global", "technology", "technologies", "tech", "development", "investment",
        "investments", "management", "partners", "products", "solutions", "supply", "systems",
        "manufacturing", "engineering", "agency", "center", "centre", "office", "branch",
        "worldwide", "overseas", "universal", "national", "united", "world", "corporate",
        "grupo", "groupe", "gruppo", "comercial", "internacional", "industria", "industrias",
    }
)  # fmt: skip
"""Words common in company names everywhere: they weigh little, and never open a block."""

GENERIC_FOLDS: frozenset[str] = frozenset(
    fold_token(token) for word in GENERIC_WORDS for token in name_tokens(word)
)
"""`GENERIC_WORDS` as the scorer sees them: normalised ("trade" -> "trading") and folded
("international" -> "intirnatiunal"). Weights and blocking look tokens up by fold, so the
spelled list alone would miss most of them."""

TRADE_MIN_NAMES = 200
"""Distinct party names a screening batch needs before its own word counts weigh tokens: a few
names (a CLI query, a test) say nothing about how common a word is in trade."""
TRADE_MIN_SHARE = 0.002
TRADE_MIN_COUNT = 5
"""A fold counts as common in trade when at least this share (and this many) of the batch's
distinct party names contain it."""
SHORT_NAME_LETTERS = 6
"""A listed name whose distinctive tokens have this many letters or fewer ("LI WEI") is short:
like a one-word name, it holds only on an exact match with a country match."""

ENTRY_COLUMNS = ("list_name", "list_version", "entry_id", "name", "name_quality")
NON_PARTY_TYPES: frozenset[str] = frozenset({"vessel", "aircraft"})
"""Entry types never matched against shipper/consignee names (declarations carry no vessel name)."""
ENTRY_TYPES: frozenset[str] = frozenset({"individual", "entity", "vessel", "aircraft"})
PARTY_COLUMNS = ("party_key", "name", "country")
HIT_SCHEMA: dict[str, pl.DataType] = {
    "party_key": pl.String(),
    "list_name": pl.String(),
    "list_version": pl.String(),
    "entry_id": pl.String(),
    "matched_name": pl.String(),
    "name_quality": pl.String(),
    "name_score": pl.Float64(),
    "score": pl.Float64(),
    "evidence": pl.String(),
    "entry_type": pl.String(),
    "hold": pl.Boolean(),
}


class _Name(NamedTuple):
    """A name prepared for scoring (a named tuple: the cached index of ~25 k of them loads
    four times faster than as dataclasses)."""

    tokens: tuple[str, ...]
    folds: tuple[str, ...]
    weights: tuple[float, ...]
    # The spelled tokens glued, for spacing variants.
    compact: str
    # The folds glued: trusted only for long names (the fold is loose: "Wei Kaya"/"Viscaya").
    folded_compact: str
    sorted_compact: str
    # Per token: whether it holds a digit (such tokens match only when equal).
    has_digit: tuple[bool, ...]
    # The digits of the whole name, in order: spacing variants must agree on them.
    digits: str
    weight_sum: float
    # Per token: the edits its spelling and its fold tolerate in a long name (for `_Bound`).
    tolerance: tuple[tuple[int, int], ...]
    # `compact` and `folded_compact` without trade words (all tokens when all are trade words).
    core: str
    folded_core: str


def _make_name(
    tokens: tuple[str, ...], folds: tuple[str, ...], weights: tuple[float, ...]
) -> _Name:
    compact = "".join(tokens)
    # Glued without trade words too: "Weisun Trading" is no spacing variant of "WEST SUN TRADE",
    # though with the shared "trading" glued on the two differ by 3 letters in 27.
    distinctive = [i for i, f in enumerate(folds) if f not in GENERIC_FOLDS] or range(len(folds))
    has_digit = tuple(any(c.isdigit() for c in t) for t in tokens)
    tolerance = tuple(
        (allowed_edits(len(t), True), allowed_edits(len(f), True))
        for t, f in zip(tokens, folds, strict=True)
    )
    return _Name(
        tokens,
        folds,
        weights,
        compact,
        "".join(folds),
        "".join(sorted(folds)),
        has_digit,
        _digits(compact),
        sum(weights),
        tolerance,
        "".join(tokens[i] for i in distinctive),
        "".join(folds[i] for i in distinctive),
    )


_TokenInfo = dict[str, tuple[str, bool, tuple[int, int]]]


@dataclass
class WatchlistIndex:
    """Listed names prepared for screening: tokens, weights and blocking postings."""

    rows: pl.DataFrame
    names: list[_Name]
    countries: list[frozenset[str]]
    postings: dict[str, np.ndarray]
    fold_weights: dict[str, float]
    unseen_weight: float
    skipped_short: int = 0
    skipped_non_party: int = 0
    """Vessel and aircraft names left out (`NON_PARTY_TYPES`)."""
    entry_types: list[str] = field(default_factory=list)
    """Per listed name, its entry's type (individual, entity or unknown)."""
    sorted_compacts: list[str] = field(default_factory=list)
    key_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    """Per listed name, how many blocking keys it has."""
    selective_key_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    """Per listed name, how many of its keys have at most `MAX_POSTINGS` names (at least 1)."""
    trade_weights: dict[str, float] = field(default_factory=dict)
    """Per fold common among the batch's party names, its IDF weight there (`set_trade_names`)."""
    entry_fingerprints: dict[tuple[str, str], str] = field(default_factory=dict)
    """Per (list_name, entry_id), a digest of the entry's content in the version in force: a
    clearance of a match holds only while the entry is unchanged."""
    _cache: dict[str, _Name] = field(default_factory=dict, repr=False)
    _token_info: dict[int, _TokenInfo] = field(default_factory=dict, repr=False)
    _reweighed: dict[int, _Name] = field(default_factory=dict, repr=False)
    _scored: dict[tuple[str, float], tuple[tuple[int, float], ...]] = field(
        default_factory=dict, repr=False
    )
    """`score_name` results under the current trade weights: a long-running service screens
    the same traders' names again and again."""

    def __len__(self) -> int:
        return len(self.names)

    def weight(self, fold: str) -> float:
        """Weight of a folded token: rare among listed names and among the batch's party names
        weighs more; a generic trade word weighs `GENERIC_WEIGHT`."""
        if fold in GENERIC_FOLDS:
            return GENERIC_WEIGHT
        weight = self.fold_weights.get(fold)
        if weight is None:
            # A word no list has: a misspelt trade word ("tradnig") is still a trade word.
            weight = GENERIC_WEIGHT if _near_generic(fold) else self.unseen_weight
        trade = self.trade_weights.get(fold)
        return weight if trade is None else min(weight, trade)

    def set_trade_names(self, names: list[str]) -> None:
        """Weigh tokens also by how common they are among these party names (IDF over the
        distinct names): "pioneer" in 3% of a day's names weighs like a common listed word.
        Fewer than `TRADE_MIN_NAMES` names leave only the lists' weights."""
        distinct = set(names)
        weights: dict[str, float] = {}
        if len(distinct) >= TRADE_MIN_NAMES:
            counts: dict[str, int] = defaultdict(int)
            for name in distinct:
                for fold in {fold_token(t) for t in name_tokens(name)}:
                    counts[fold] += 1
            least = max(TRADE_MIN_COUNT, TRADE_MIN_SHARE * len(distinct))
            for fold, count in counts.items():
                trade = 1.0 + math.log(len(distinct) / count)
                listed = self.fold_weights.get(fold, self.unseen_weight)
                if count >= least and trade < listed and fold not in GENERIC_FOLDS:
                    weights[fold] = trade
        if weights != self.trade_weights:
            self.trade_weights = weights
            self._cache.clear()
            self._reweighed.clear()
            self._scored.clear()

    def listed(self, position: int) -> _Name:
        """A listed name with its weights, those of tokens common in the batch lowered."""
        name = self.names[position]
        if not self.trade_weights:
            return name
        reweighed = self._reweighed.get(position)
        if reweighed is None:
            if any(f in self.trade_weights for f in name.folds):
                weights = tuple(self.weight(f) for f in name.folds)
                reweighed = _make_name(name.tokens, name.folds, weights)
            else:
                reweighed = name
            self._reweighed[position] = reweighed
        return reweighed

    def token_info(self, position: int) -> _TokenInfo:
        """Token -> (fold, has digit, tolerance) of one listed name, made on first use (a night
        touches a fraction of the names; kept out of the cached index to keep it quick to load)."""
        info = self._token_info.get(position)
        if info is None:
            name = self.names[position]
            info = dict(
                zip(
                    name.tokens,
                    zip(name.folds, name.has_digit, name.tolerance, strict=True),
                    strict=True,
                )
            )
            self._token_info[position] = info
        return info

    def prepare(self, name: str) -> _Name:
        """Tokens, folds and weights of a party name (cached: nights repeat names)."""
        cached = self._cache.get(name)
        if cached is None:
            tokens = name_tokens(name)
            folds = tuple(fold_token(t) for t in tokens)
            weights = tuple(self.weight(f) for f in folds)
            cached = _make_name(tokens, folds, weights)
            if len(self._cache) < 200_000:
                self._cache[name] = cached
        return cached


_GENERIC_SPELLINGS: tuple[str, ...] = tuple(
    sorted(
        {f for f in GENERIC_FOLDS if len(f) >= 5}
        | {fold_token(w) for w in GENERIC_WORDS if len(w) >= 5}
    )
)


@lru_cache(maxsize=1 << 16)
def _near_generic(fold: str) -> bool:
    """Whether a folded word of 5+ letters is one edit (a swap counting once) from a trade word."""
    return len(fold) >= 5 and any(
        OSA.distance(fold, word, score_cutoff=1) <= 1 for word in _GENERIC_SPELLINGS
    )


def _block_keys(fold: str) -> tuple[str, ...]:
    if len(fold) <= 3:
        return ("w" + fold,)
    return ("p" + fold[:3], "s" + fold[-3:])


def build_index(entries: pl.DataFrame) -> WatchlistIndex:
    """Index one or more lists' entries (one row per listed name) for `screen`.

    Needs columns list_name, list_version, entry_id, name, name_quality; an optional `countries`
    column (list of ISO alpha-2 codes) is used as supporting evidence. Names with fewer than
    `MIN_NAME_LETTERS` letters (bare acronyms like "ASC") are left out: they hit on noise; so
    are names of entries whose optional `entity_type` is vessel or aircraft.
    """
    missing = [c for c in ENTRY_COLUMNS if c not in entries.columns]
    if missing:
        raise ValueError(f"watch-list entries lack column(s): {', '.join(missing)}")
    with_countries = "countries" in entries.columns
    with_types = "entity_type" in entries.columns
    entry_types: list[str] = []
    skipped_non_party = 0
    rows: list[dict[str, object]] = []
    token_folds: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    countries: list[frozenset[str]] = []
    skipped = 0
    for row in entries.iter_rows(named=True):
        entry_type = _entry_type(row["entity_type"] if with_types else None)
        if entry_type in NON_PARTY_TYPES:
            skipped_non_party += 1
            continue
        tokens = name_tokens(row["name"] or "")
        if sum(len(t) for t in tokens) < MIN_NAME_LETTERS:
            skipped += 1
            continue
        rows.append({c: row[c] for c in ENTRY_COLUMNS})
        token_folds.append((tokens, tuple(fold_token(t) for t in tokens)))
        codes = row["countries"] if with_countries else None
        countries.append(frozenset(codes or ()))
        entry_types.append(entry_type)
    document_frequency: dict[str, int] = defaultdict(int)
    for _, folds in token_folds:
        for fold in set(folds):
            document_frequency[fold] += 1
    total = max(len(token_folds), 1)
    fold_weights = {f: 1.0 + math.log(total / df) for f, df in document_frequency.items()}
    index = WatchlistIndex(
        rows=pl.DataFrame(rows, schema=dict.fromkeys(ENTRY_COLUMNS, pl.String())),
        names=[],
        countries=countries,
        postings={},
        fold_weights=fold_weights,
        unseen_weight=1.0 + math.log(total),
        skipped_short=skipped,
        skipped_non_party=skipped_non_party,
        entry_types=entry_types,
    )
    postings: dict[str, list[int]] = defaultdict(list)
    key_counts: list[int] = []
    for position, (tokens, folds) in enumerate(token_folds):
        weights = tuple(index.weight(f) for f in folds)
        index.names.append(_make_name(tokens, folds, weights))
        keys = {k for f in folds if f not in GENERIC_FOLDS for k in _block_keys(f)}
        # The whole name glued together is a key too: it finds spacing variants of one word.
        keys.add("c" + "".join(folds)[:6])
        for key in keys:
            postings[key].append(position)
        key_counts.append(len(keys))
    # Arrays: a party's shared-key counts are then one numpy pass instead of a Python loop.
    index.postings = {k: np.array(v, dtype=np.int32) for k, v in postings.items()}
    index.key_counts = np.array(key_counts, dtype=np.int32)
    # Only a selective key can be shared (blocking skips the crowded ones): a name's share is
    # counted among those, else "KOERA YUJONG SHIPPING" shares one of five keys of "KOREA YUJONG
    # SHIPPING" (three crowded) and is never scored.
    selective = np.zeros(len(key_counts), dtype=np.int32)
    for positions in index.postings.values():
        if len(positions) <= MAX_POSTINGS:
            selective[positions] += 1
    index.selective_key_counts = np.maximum(selective, 1)
    index.sorted_compacts = [n.sorted_compact for n in index.names]
    index.entry_fingerprints = entry_fingerprints(entries)
    return index


def entry_fingerprints(entries: pl.DataFrame) -> dict[tuple[str, str], str]:
    """Per (list_name, entry_id), a digest of all its rows but the list version: names and their
    quality, type, countries, addresses. Equal across list versions while the entry is unchanged."""
    rows: dict[tuple[str, str], list[str]] = defaultdict(list)
    content = [c for c in entries.columns if c != "list_version"]
    for row in entries.select(content).iter_rows(named=True):
        key = (str(row["list_name"]), str(row["entry_id"]))
        rows[key].append(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False))
    return {
        key: hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()[:24]
        for key, lines in rows.items()
    }


def _entry_type(value: object) -> str:
    text = str(value or "").strip().lower()
    return text if text in ENTRY_TYPES else "unknown"


def weak_by_shape(listed: _Name) -> bool:
    """A listed name too plain to hold on its own: one distinctive token (legal forms are
    already gone), distinctive tokens of `SHORT_NAME_LETTERS` letters or fewer, or more than
    half of its tokens generic trade words ("GLOBAL TRADING GROUP")."""
    # The spelling decides: folds of generic words ("global") need not be generic words.
    distinctive = [
        t
        for t, f in zip(listed.tokens, listed.folds, strict=True)
        if t not in GENERIC_WORDS and f not in GENERIC_FOLDS
    ]
    short = sum(len(t) for t in distinctive) <= SHORT_NAME_LETTERS
    return len(distinctive) <= 1 or short or 2 * len(distinctive) < len(listed.tokens)


def allowed_edits(length: int, long_names: bool = False) -> int:
    """Typos tolerated in a token of this length: none up to 4 letters ("Ali" is not "Wali"),
    except one in a 4-letter word when both names have 3+ words, whose others carry the match."""
    if length <= 3 or (length == 4 and not long_names):
        return 0
    if length == 4:
        return 1
    if length <= 7:
        return 1
    return 2 if length <= 11 else 3


def token_similarity(a: str, a_fold: str, b: str, b_fold: str, long_names: bool = False) -> float:
    """1 - edits/length (transpositions count once) of the closer of spelling and fold; 0 when
    the edits exceed what the length tolerates, and for tokens with digits unless equal."""
    if a == b or a_fold == b_fold:
        return 1.0
    if any(c.isdigit() for c in a + b):
        return 0.0  # hull numbers, registration numbers: a digit off is another vessel
    return _edit_similarity(a, a_fold, b, b_fold, long_names)


@lru_cache(maxsize=1 << 18)
def _edit_similarity(a: str, a_fold: str, b: str, b_fold: str, long_names: bool) -> float:
    """`token_similarity` of two different digit-free tokens (cached: nights repeat pairs)."""
    best = 0.0
    for x, y in ((a, b), (a_fold, b_fold)):
        length = max(len(x), len(y))
        allowed = allowed_edits(length, long_names)
        edits = OSA.distance(x, y, score_cutoff=allowed)
        if edits <= allowed:
            best = max(best, 1.0 - edits / length)
    return best


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def name_score(party: _Name, listed: _Name) -> float:
    """Weighted share of both names covered by one-to-one token pairs (0-1, order-free)."""
    total = party.weight_sum + listed.weight_sum
    if total == 0:
        return 0.0
    pairs: list[tuple[float, int, int]] = []
    listed_tokens, listed_folds, listed_digit = listed.tokens, listed.folds, listed.has_digit
    long_names = min(len(party.tokens), len(listed_tokens)) >= 3
    # `token_similarity` inlined: this loop runs for every candidate pair of the night.
    for i, a in enumerate(party.tokens):
        a_fold = party.folds[i]
        a_digit = party.has_digit[i]
        for j, b in enumerate(listed_tokens):
            b_fold = listed_folds[j]
            if a == b or a_fold == b_fold:
                pairs.append((1.0, i, j))
            elif not (a_digit or listed_digit[j]):
                similarity = _edit_similarity(a, a_fold, b, b_fold, long_names)
                if similarity:
                    pairs.append((similarity, i, j))
    if not pairs and len(party.tokens) == len(listed.tokens):
        return 0.0
    pairs.sort(reverse=True)
    used_party: set[int] = set()
    used_listed: set[int] = set()
    covered = 0.0
    for similarity, i, j in pairs:
        if i in used_party or j in used_listed:
            continue
        used_party.add(i)
        used_listed.add(j)
        covered += similarity * (party.weights[i] + listed.weights[j])
    score = covered / total
    compact = _compact_similarity(party, listed)
    if compact >= COMPACT_FLOOR:
        score = max(score, compact)
    return score


def _compact_similarity(party: _Name, listed: _Name) -> float:
    """Similarity of the glued names, or 0 when they are not a possible spacing variant."""
    # Only a different word count suggests a spacing variant ("Mohammed Ali" is not
    # "Mohammed Wali", though glued they differ by one letter); digits must agree.
    if len(party.tokens) == len(listed.tokens) or party.digits != listed.digits:
        return 0.0
    whole = _glued_similarity(
        party.compact, party.folded_compact, listed.compact, listed.folded_compact
    )
    if whole < COMPACT_FLOOR or (party.core == party.compact and listed.core == listed.compact):
        return whole
    # Shared trade words must not carry it: the names glued without them must agree as well.
    core = _glued_similarity(party.core, party.folded_core, listed.core, listed.folded_core)
    return min(whole, core)


def _glued_similarity(a: str, a_folded: str, b: str, b_folded: str) -> float:
    similarity = Indel.normalized_similarity(a, b)
    if min(len(a_folded), len(b_folded)) >= FOLDED_COMPACT_MIN:
        similarity = max(similarity, Indel.normalized_similarity(a_folded, b_folded))
    return similarity


class _Bound:
    """A cheap upper bound of `name_score` of one party against many listed names.

    Every aligned pair covers at most its two tokens' weights, so a name scores at most the
    weight share of the tokens that have any similar token on the other side. Which party tokens
    a listed token is similar to is worked out once per listed token (with the more tolerant
    long-name edits, so the bound never falls below the score). On a busy night over 99% of the
    blocked candidates fall below the floor on this bound alone and skip the exact alignment.
    """

    def __init__(self, party: _Name, index: WatchlistIndex, positions: list[int]) -> None:
        self.party = party
        tokens: _TokenInfo = {}
        for position in positions:
            tokens.update(index.token_info(position))
        self.masks = self._masks(tokens)

    def _masks(self, tokens: _TokenInfo) -> dict[str, int]:
        """Per listed token, bit i set when party token i could pair with it (`_edit_similarity`
        with long-name tolerance, equal tokens or folds, digits only when equal), computed for
        all pairs at once in C."""
        party = self.party
        if not tokens:
            return {}
        if len(party.tokens) > 62:
            return {t: self._mask_slowly(t, fold) for t, (fold, _, _) in tokens.items()}
        listed = list(tokens)
        info = list(tokens.values())
        spelled = process.cdist(
            party.tokens, listed, scorer=OSA.distance, score_cutoff=3, dtype=np.int8
        )
        folded = process.cdist(
            party.folds, [i[0] for i in info], scorer=OSA.distance, score_cutoff=3, dtype=np.int8
        )
        # The tolerance of a pair is that of its longer token: the larger of the two.
        party_tolerance = np.array(party.tolerance, dtype=np.int8)
        listed_tolerance = np.array([i[2] for i in info], dtype=np.int8)
        pairable = (spelled <= np.maximum.outer(party_tolerance[:, 0], listed_tolerance[:, 0])) | (
            folded <= np.maximum.outer(party_tolerance[:, 1], listed_tolerance[:, 1])
        )
        if any(party.has_digit) or any(i[1] for i in info):
            digits = np.logical_or.outer(
                np.array(party.has_digit, dtype=bool), np.array([i[1] for i in info])
            )
            pairable = (pairable & ~digits) | (spelled == 0) | (folded == 0)
        if len(party.tokens) <= 8:
            masks: list[int] = np.packbits(pairable, axis=0, bitorder="little")[0].tolist()
        else:
            bits = np.left_shift(np.uint64(1), np.arange(len(party.tokens), dtype=np.uint64))
            masks = (pairable.astype(np.uint64) * bits[:, None]).sum(axis=0).tolist()
        return dict(zip(listed, masks, strict=True))

    def _mask_slowly(self, token: str, fold: str) -> int:
        party = self.party
        mask = 0
        for i, (a, a_fold) in enumerate(zip(party.tokens, party.folds, strict=True)):
            if token_similarity(a, a_fold, token, fold, long_names=True):
                mask |= 1 << i
        return mask

    def may_reach(self, listed: _Name, floor: float) -> bool:
        """False only when `name_score(party, listed)` is surely below `floor`."""
        party = self.party
        total = party.weight_sum + listed.weight_sum
        if total == 0:
            return False
        union = 0
        listed_covered = 0.0
        masks = self.masks
        for j, token in enumerate(listed.tokens):
            mask = masks[token]
            if mask:
                union |= mask
                listed_covered += listed.weights[j]
        slack = 1e-9  # the bound sums in another order than the score: never cut a tie
        if (party.weight_sum + listed_covered) / total + slack >= floor:
            party_covered = sum(w for i, w in enumerate(party.weights) if union >> i & 1)
            if (party_covered + listed_covered) / total + slack >= floor:
                return True
        compact = _compact_similarity(party, listed)
        return compact >= COMPACT_FLOOR and compact + slack >= floor


def _candidates(index: WatchlistIndex, party: _Name) -> list[int]:
    """Index positions sharing enough blocking keys with the party, in ascending order."""
    keys = {k for f in party.folds if f not in GENERIC_FOLDS for k in _block_keys(f)}
    keys.add("c" + party.folded_compact[:6])
    # Sorted keys: which posting is "the rarest" among equals must not depend on hash order.
    postings = [index.postings[k] for k in sorted(keys) if k in index.postings]
    selective = [p for p in postings if len(p) <= MAX_POSTINGS]
    # A name made only of very common tokens still gets screened, through its rarest key.
    chosen = selective or sorted(postings, key=len)[:1]
    if not chosen:
        return []
    positions, shared = np.unique(np.concatenate(chosen), return_counts=True)
    # A listed name sharing under a quarter of its keys (one common prefix, say) cannot reach a
    # passing score: most of its weight would be unmatched.
    key_counts = index.selective_key_counts if selective else index.key_counts
    enough = shared * KEY_SHARE_DENOMINATOR >= key_counts[positions]
    result: list[int] = positions[enough].tolist()
    return result


def score_name(index: WatchlistIndex, name: str, floor: float) -> list[tuple[int, float]]:
    """(index position, name score) of listed names scoring at least `floor` against `name`.

    Kept per (name, floor) until the trade weights change (`set_trade_names` clears it): with
    the same weights the same name always scores the same.
    """
    kept = index._scored.get((name, floor))
    if kept is None:
        kept = tuple(_score_name(index, name, floor))
        if len(index._scored) < 200_000:
            index._scored[(name, floor)] = kept
    return list(kept)


def _score_name(index: WatchlistIndex, name: str, floor: float) -> list[tuple[int, float]]:
    party = index.prepare(name)
    if not party.tokens:
        return []
    candidates = _candidates(index, party)
    if len(candidates) > CANDIDATE_CAP:
        # A cheap order-free pre-ranking keeps the exact scorer on the most promising few.
        ranked = process.extract(
            party.sorted_compact,
            [index.sorted_compacts[p] for p in candidates],
            scorer=Indel.normalized_similarity,
            limit=CANDIDATE_CAP,
        )
        candidates = [candidates[found[2]] for found in ranked]
    found: list[tuple[int, float]] = []
    bound = _Bound(party, index, candidates)
    for position in candidates:
        listed = index.listed(position)
        if not bound.may_reach(listed, floor):
            continue
        if _only_contains(party, listed) or _other_trade_words(party, listed):
            continue
        score = name_score(party, listed)
        if score >= floor:
            found.append((position, score))
    return found


def _only_contains(party: _Name, listed: _Name) -> bool:
    """A one-token listed name inside a longer party name ("HORIZON" in "Horizon Industrial"),
    not a spacing variant of it: the party is another company that shares a word."""
    if len(listed.tokens) != 1 or len(party.tokens) <= 1:
        return False
    return _compact_similarity(party, listed) < COMPACT_FLOOR


def _is_trade_word(fold: str) -> bool:
    return fold in GENERIC_FOLDS or _near_generic(fold)


def _other_trade_words(party: _Name, listed: _Name) -> bool:
    """A listed name of one distinctive word with other trade words than the party's ("Weisa
    Trading" against "GRUPO WISA"): two firms sharing a word. Each trade word on either side
    needs a similar one (a typo aside) on the other."""
    listed_trade = [
        (t, f) for t, f in zip(listed.tokens, listed.folds, strict=True) if _is_trade_word(f)
    ]
    if len(listed.tokens) - len(listed_trade) != 1:
        return False
    party_trade = [
        (t, f) for t, f in zip(party.tokens, party.folds, strict=True) if _is_trade_word(f)
    ]

    def paired(one: list[tuple[str, str]], other: list[tuple[str, str]]) -> bool:
        return all(any(token_similarity(t, f, u, g) > 0 for u, g in other) for t, f in one)

    return not (paired(party_trade, listed_trade) and paired(listed_trade, party_trade))


def _holds(
    party: _Name, listed: _Name, country: str | None, listed_countries: frozenset[str]
) -> bool:
    """Whether a hit (already at or above the threshold) is a mandatory hold."""
    if not weak_by_shape(listed):
        return True
    exact = sorted(party.tokens) == sorted(listed.tokens)
    return exact and bool(country) and country in listed_countries


def _evidence(score: float, quality: str, country: str | None, listed: frozenset[str]) -> str:
    parts = [f"name {score:.2f}"]
    if quality == "low":
        parts.append("low-quality alias")
    if country and country in listed:
        parts.append(f"country match {country}")
    elif country and listed:
        parts.append(f"country differs (list: {', '.join(sorted(listed))})")
    return "; ".join(parts)


NameHits = tuple[tuple[int, float], ...]
"""(index position, name score) of the listed names one party name scores near."""


@dataclass(frozen=True)
class NameScores:
    """The first step of `screen`: which distinct party names score near a listed name.

    `near` maps each such name to its candidates at `threshold - COUNTRY_BONUS` (the lowest
    score the country bonus can lift to `threshold`); a name scoring near nothing is absent, so
    an empty `near` means no hit is possible. The scores hold under the trade weights set for
    these names (`WatchlistIndex.set_trade_names`).
    """

    threshold: float
    near: dict[str, NameHits]


def score_party_names(
    names: list[str], index: WatchlistIndex, threshold: float = DEFAULT_THRESHOLD
) -> NameScores:
    """Set the trade weights over the party `names` (a null name given as ""), then score each
    distinct name against the index: step one of `screen`, with no frame built.

    Names equal but for case, punctuation, legal form or word order (`order_free_key`) are
    scored once, through the first of them in `names`, and share its candidates.
    """
    index.set_trade_names(names)
    floor = threshold - COUNTRY_BONUS
    by_key: dict[str, NameHits] = {}
    near: dict[str, NameHits] = {}
    for name in dict.fromkeys(names):
        key = order_free_key(name)
        found = by_key.get(key)
        if found is None:
            found = by_key[key] = tuple(score_name(index, name, floor))
        if found:
            near[name] = found
    return NameScores(threshold, near)


def _distinct_parties(parties: pl.DataFrame) -> pl.DataFrame:
    """(party_key, name, country) once each, null names as "", countries upper-cased, in the
    order of first appearance: the first spelling of a key represents it."""
    missing = [c for c in PARTY_COLUMNS if c not in parties.columns]
    if missing:
        raise ValueError(f"parties lack column(s): {', '.join(missing)}")
    return parties.select(
        pl.col("party_key").cast(pl.String),
        pl.col("name").cast(pl.String).fill_null(""),
        pl.col("country").cast(pl.String).str.to_uppercase(),
    ).unique(maintain_order=True)


def screen(
    parties: pl.DataFrame, index: WatchlistIndex, threshold: float = DEFAULT_THRESHOLD
) -> pl.DataFrame:
    """Hits of parties on the index at or above `threshold` (see the module docstring): the
    distinct names scored (`score_party_names`), then the hit rows built (`build_hits`)."""
    distinct = _distinct_parties(parties)
    scores = score_party_names(distinct.get_column("name").to_list(), index, threshold)
    return build_hits(distinct, scores, index)


def build_hits(parties: pl.DataFrame, scores: NameScores, index: WatchlistIndex) -> pl.DataFrame:
    """The hit rows of `parties` (as `screen` takes them) from their names' `scores`: step two
    of `screen`. The scores must be those of these parties' names on this index (the same
    names set the same trade weights)."""
    if not scores.near:
        # Most calls of the assessment service: no name near a listed one, nothing to build.
        return pl.DataFrame(schema=HIT_SCHEMA)
    threshold = scores.threshold
    hit_rows = _distinct_parties(parties).filter(pl.col("name").is_in(list(scores.near)))
    records: list[tuple[object, ...]] = []
    quality_column = index.rows.get_column("name_quality").to_list()
    for party_key, name, country in hit_rows.iter_rows():
        party = index.prepare(name)
        for position, raw_score in scores.near[name]:
            quality = (quality_column[position] or "").lower()
            score = raw_score * (LOW_QUALITY_FACTOR if quality == "low" else 1.0)
            listed = index.countries[position]
            if country and country in listed:
                score = min(1.0, score + COUNTRY_BONUS)
            if score < threshold:
                continue
            row = index.rows.row(position)
            evidence = _evidence(raw_score, quality, country, listed)
            hold = _holds(party, index.listed(position), country, listed)
            if not hold:
                evidence += "; no hold: list name weak by shape"
            entry_type = index.entry_types[position] if index.entry_types else "unknown"
            records.append(
                (
                    party_key, row[0], row[1], row[2], row[3], quality, raw_score, score,
                    evidence, entry_type, hold,
                )
            )  # fmt: skip
    found = pl.DataFrame(records, schema=HIT_SCHEMA, orient="row")
    # One row per party and entry: the entry's best-matching name (of equal scores, capped at
    # 1 with the country bonus, the closer name, then the first in alphabetical order, so the
    # reported name does not depend on the order of candidates).
    return (
        found.sort(
            ["party_key", "list_name", "entry_id", "score", "name_score", "matched_name"],
            descending=[False, False, False, True, True, False],
        )
        .unique(["party_key", "list_name", "entry_id"], keep="first", maintain_order=True)
        .sort(
            ["party_key", "score", "list_name", "entry_id"],
            descending=[False, True, False, False],
        )
    )
