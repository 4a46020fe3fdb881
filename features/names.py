"""Name normalisation for watch-list screening (pure functions, no I/O).

Grain: one party or list name in, one normalised token tuple out. The steps, in order:
transliterate any script to ASCII (anyascii), lower-case, drop periods and apostrophes
("L.L.C." -> "llc", "Naval'nyy" -> "navalnyy"), turn other punctuation into spaces, expand common
abbreviations ("intl" -> "international"), drop legal-form tokens ("co ltd", "gmbh", "ooo"; the
long ones even with one typo: "compnay"), and glue Arabic articles to the next word
("al-Qaida", "Al Qaida" and "Alqaida" all become "alqaida"). Word order is left alone here: the
scorer aligns tokens without regard to order, and `order_free_key` gives an order-free key for
de-duplication.

`fold_token` is a coarse phonetic fold used next to the spelling, so that the common romanisation
variants of one name (Mohammed / Muhammad, Taher / Tahir, Qaeda / Qaida) meet.
"""

from __future__ import annotations

import re
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz.distance import OSA

LEGAL_FORMS: frozenset[str] = frozenset(
    {
        # English-speaking and international
        "co", "company", "corp", "corporation", "inc", "incorporated", "llc", "llp", "lp", "ltd",
        "limited", "plc", "pte", "pty", "pvt", "private", "fze", "fzco", "fzc", "fzllc", "dmcc",
        # European
        "gmbh", "gmbkh", "ag", "kg", "ohg", "ug", "mbh", "sa", "sas", "sarl", "sl", "srl", "spa",
        "sro", "bv", "nv", "oy", "oyj", "ab", "aps", "asa", "kft", "zrt", "doo", "ltda", "lda",
        "eood", "ood", "sp", "zoo", "as",
        # Post-Soviet
        "ooo", "oao", "zao", "pao", "jsc", "ojsc", "cjsc", "pjsc", "tov", "too", "ip", "chp",
        # Asia and Middle East
        "kk", "bhd", "sdn", "tbk", "wll", "spc",
    }
)  # fmt: skip
"""Tokens naming a company's legal form: they say nothing about who the company is."""

LEGAL_PHRASES: tuple[tuple[str, ...], ...] = (
    # Filers shorten the last word as often as not: "Joint Stock Co", "Ltd Liability Company".
    *(
        (limited, "liability", company)
        for limited in ("limited", "ltd")
        for company in ("company", "co")
    ),
    *(
        (*kind, "joint", "stock", company)
        for kind in ((), ("closed",), ("public",), ("open",), ("private",))
        for company in ("company", "co")
    ),
    ("societe", "anonyme"),
    ("sp", "z", "oo"),
)
"""Multi-word legal forms, removed before the single tokens (longest first)."""

ARTICLES: frozenset[str] = frozenset({"al", "el", "ul", "ur", "ud", "ad"})
"""Arabic articles written apart or hyphenated; glued to the next word so spacing cannot matter."""

_APOSTROPHES = re.compile(r"[.'`´’‘ʼʻ]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_JOINT_VENTURE = re.compile(r"\bj\s*/\s*v\b")
LONG_LEGAL_FORMS: tuple[str, ...] = ("company", "limited", "corporation", "incorporated", "corp")
"""Legal-form words recognised through one typo in a word of 5+ letters ("compnay", "coorp")."""

ABBREVIATIONS: dict[str, str] = {
    # Trade documents shorten the common words of company names, by truncation ("mach") or by
    # contraction ("trdg", "mfg"); only forms that stand for one word in a company name are here
    # ("ind" may be India or industries, "inst" institute or instruments, and "eng" and "dev"
    # are also names of people: left out).
    "intl": "international", "intnl": "international", "natl": "national",
    "trade": "trading", "traders": "trading", "trdg": "trading", "trdng": "trading",
    "mfg": "manufacturing", "mfrg": "manufacturing", "manuf": "manufacturing",
    "mach": "machinery", "machy": "machinery", "mchy": "machinery", "mech": "mechanical",
    "chem": "chemical", "chems": "chemical", "chemicals": "chemical",
    "petrochem": "petrochemical", "petrochemicals": "petrochemical",
    "pharm": "pharmaceutical", "pharma": "pharmaceutical", "pharmaceuticals": "pharmaceutical",
    "engg": "engineering", "engrg": "engineering",
    "elec": "electric", "electrical": "electric",
    "equip": "equipment", "eqpt": "equipment", "eqp": "equipment",
    "inds": "industries", "indus": "industries",
    "devt": "development",
    "mgmt": "management", "mgt": "management",
    "assoc": "associated", "assn": "association",
    "hldg": "holding", "hldgs": "holdings", "grp": "group",
    "svc": "services", "svcs": "services", "shpg": "shipping",
    "imp": "import", "exp": "export", "coml": "commercial", "comml": "commercial",
    "metall": "metallurgical", "constr": "construction",
    "univ": "university", "ctr": "center", "cntr": "center",
    "telecom": "telecommunications", "agri": "agricultural", "agric": "agricultural",
    "prods": "products", "distr": "distribution", "distrib": "distribution",
    "mktg": "marketing", "bros": "brothers", "dept": "department",
    "jv": "joint venture",
}  # fmt: skip
"""Abbreviations and word forms written both ways in company names, mapped to one form."""

_FOLDS: tuple[tuple[str, str], ...] = (
    ("dzh", "j"),
    ("kh", "h"),
    ("ph", "f"),
    ("ch", "\x00"),
    ("ck", "k"),
    ("c", "k"),
    ("\x00", "ch"),
    ("q", "k"),
    ("dj", "j"),
    ("dh", "d"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("o", "u"),
    ("e", "i"),
    ("y", "i"),
    ("w", "v"),
)
_REPEATS = re.compile(r"(.)\1+")


def _phrases_by_first_word() -> dict[str, tuple[tuple[str, ...], ...]]:
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted(LEGAL_PHRASES, key=len, reverse=True):
        by_first.setdefault(phrase[0], []).append(phrase)
    return {first: tuple(phrases) for first, phrases in by_first.items()}


_PHRASES_BY_FIRST = _phrases_by_first_word()
"""Legal phrases keyed by their first word, longest first: most tokens start none."""


def _strip_phrases(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for phrase in _PHRASES_BY_FIRST.get(tokens[i], ()):
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


@lru_cache(maxsize=1 << 16)
def _is_legal_form(token: str) -> bool:
    if token in LEGAL_FORMS:
        return True
    return len(token) >= 5 and any(
        OSA.distance(token, form, score_cutoff=1) <= 1 for form in LONG_LEGAL_FORMS
    )


SHORT_CLOSING_FORMS: tuple[str, ...] = ("corp", "ltd", "inc", "llc")
"""Legal forms that close a name and are short enough to lose a letter to a slip ("Orp",
"Ldt", "Ltdd"): read as the form only as the last of three or more words, where a slip of the
form is likelier than a word of the name."""


@lru_cache(maxsize=1 << 16)
def _is_slipped_closing_form(token: str) -> bool:
    # A letter dropped, doubled or swapped; not changed ("Led" and "Lid" are words).
    return len(token) >= 3 and any(
        OSA.distance(token, form, score_cutoff=1) <= 1
        and (len(token) != len(form) or sorted(token) == sorted(form))
        for form in SHORT_CLOSING_FORMS
    )


def _glue_articles(tokens: list[str]) -> list[str]:
    out: list[str] = []
    pending = ""
    for token in tokens:
        if token in ARTICLES:
            pending += token
            continue
        out.append(pending + token)
        pending = ""
    if pending:
        out.append(pending)
    return out


@lru_cache(maxsize=1 << 18)
def name_tokens(name: str) -> tuple[str, ...]:
    """The normalised tokens of a name, in their original order (empty for a blank name)."""
    text = _APOSTROPHES.sub("", anyascii(name).lower())
    text = _JOINT_VENTURE.sub(" jv ", text)
    tokens = [w for t in _NON_ALNUM.split(text) if t for w in ABBREVIATIONS.get(t, t).split()]
    tokens = _strip_phrases(tokens)
    # A name made only of legal-form words keeps them: it has nothing else to match on.
    kept = [t for t in tokens if not _is_legal_form(t)]
    if len(kept) >= 3 and _is_slipped_closing_form(kept[-1]):
        kept.pop()
    return tuple(_glue_articles(kept or tokens))


def normalise(name: str) -> str:
    """A name as one normalised string, tokens in their original order."""
    return " ".join(name_tokens(name))


def order_free_key(name: str) -> str:
    """A key equal for names that differ only in case, script, punctuation, legal form or order."""
    return " ".join(sorted(name_tokens(name)))


@lru_cache(maxsize=1 << 18)
def fold_token(token: str) -> str:
    """A coarse phonetic fold of one normalised token: romanisation variants usually meet."""
    folded = token
    for old, new in _FOLDS:
        folded = folded.replace(old, new)
    return _REPEATS.sub(r"\1", folded)
