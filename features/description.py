"""Goods-description features: vague wording and disagreement with the HS nomenclature text.

Grain: `description_table` has one row per distinct (goods_description, hs6) pair; the features
are expressions over one row per declaration item after that table is joined on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import polars as pl

from features.feature import Feature

STEM_LENGTH = 5
"""Words are compared by their first letters: a cheap stemmer ('bolts' ~ 'bolt', 'weapons')."""
MIN_WORD_LENGTH = 3


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    """
    and the for with not from into other than its their this that are was were has have
    all any being kind kinds used such whether incl including excl excluding nes thereof
    containing contain made
    """
)
"""Words that say nothing about the goods (common in both descriptions and HS texts)."""

VAGUE_WORDS = _words(
    """
    goods general cargo item items product products stuff misc miscellaneous various
    assorted sundry sundries sample samples spare spares accessory accessories equipment
    material materials merchandise commodity commodities consolidated consol fak stc gift
    gifts personal effects unknown invoice declared freight kinds mixed part parts
    """
)
"""Words that describe no goods in particular (cargo-screening guidance lists such terms)."""


def description_words(text: pl.Expr) -> pl.Expr:
    """The text's meaningful words: lower case, letters only, no stop words."""
    words = (
        text.str.to_lowercase().str.replace_all(r"[^a-z]+", " ").str.strip_chars().str.split(" ")
    )
    return words.list.eval(
        pl.element().filter(
            (pl.element().str.len_chars() >= MIN_WORD_LENGTH)
            & ~pl.element().is_in(sorted(STOPWORDS))
        )
    )


def stems_of_words(words: pl.Expr) -> pl.Expr:
    """Distinct stems of the words that can name goods (vague words cannot match a code)."""
    return words.list.eval(
        pl.element().filter(~pl.element().is_in(sorted(VAGUE_WORDS))).str.slice(0, STEM_LENGTH)
    ).list.unique()


def word_stems(text: pl.Expr) -> pl.Expr:
    """Distinct stems of a text's words that can name goods."""
    return stems_of_words(description_words(text))


DESCRIPTION_KEY = "_desc_key"
TEXT_KEY = "_text_key"


def description_keys() -> list[pl.Expr]:
    """64-bit hashes of the description and of (description, hs6): join keys within one run."""
    return list(_DESCRIPTION_KEYS)


_DESCRIPTION_KEYS = (
    pl.col("goods_description").hash().alias(TEXT_KEY),
    pl.struct("goods_description", "hs6").hash().alias(DESCRIPTION_KEY),
)


def description_table(items: pl.LazyFrame, hs6: pl.DataFrame) -> pl.LazyFrame:
    """Description measures per distinct (goods_description, hs6) pair of `items`.

    `items` carries the `description_keys`. Words are read once per distinct description
    (descriptions repeat a lot) and matched to the HS text once per distinct pair; the result
    is keyed by `_desc_key`: `_desc_n_words`, `_desc_vague_share`, `_desc_hs_overlap`.
    """
    steps = _description_steps()
    hs_text = hs6.lazy().select(*steps.hs_text)
    # The words are split once, then measured: expressions over the text would split it again.
    texts = (
        items.select(TEXT_KEY, "goods_description")
        .unique(subset=[TEXT_KEY])
        .select(TEXT_KEY, steps.words)
        .select(TEXT_KEY, *steps.measures)
    )
    return (
        items.select(DESCRIPTION_KEY, TEXT_KEY, "hs6")
        .unique(subset=[DESCRIPTION_KEY])
        .join(texts, on=TEXT_KEY, how="left")
        .join(hs_text, on="hs6", how="left")
        .select(DESCRIPTION_KEY, "_desc_n_words", "_desc_vague_share", steps.overlap)
    )


@dataclass(frozen=True)
class _DescriptionSteps:
    hs_text: tuple[pl.Expr, pl.Expr]
    words: pl.Expr
    measures: tuple[pl.Expr, pl.Expr, pl.Expr]
    overlap: pl.Expr


@cache
def _description_steps() -> _DescriptionSteps:
    """`description_table`'s expressions, built once: the service builds the table on every
    call, and building these in Python was a fixed cost of each (decision 0032, pass 6)."""
    words = pl.col("_desc_words")
    vague = words.list.eval(pl.element().is_in(sorted(VAGUE_WORDS)).cast(pl.Float64)).list.mean()
    shared = pl.col("_desc_tokens").list.set_intersection(pl.col("_hs_tokens")).list.len()
    known = pl.col("_desc_tokens").list.len()
    return _DescriptionSteps(
        hs_text=(
            pl.col("hs6").cast(pl.String),
            word_stems(pl.col("description")).alias("_hs_tokens"),
        ),
        words=description_words(pl.col("goods_description")).alias("_desc_words"),
        measures=(
            words.list.len().alias("_desc_n_words"),
            # A description with no meaningful word at all is as vague as it gets.
            pl.when(words.list.len() == 0).then(1.0).otherwise(vague).alias("_desc_vague_share"),
            stems_of_words(words).alias("_desc_tokens"),
        ),
        overlap=pl.when(pl.col("_hs_tokens").is_null() | (known == 0))
        .then(None)
        .otherwise(shared.cast(pl.Float64) / known)
        .alias("_desc_hs_overlap"),
    )


FEATURES: tuple[Feature, ...] = (
    Feature(
        "description_n_words",
        "int",
        "meaningful words in the goods description",
        "declaration",
        "goods description of {value:.0f} words",
        pl.col("_desc_n_words"),
    ),
    Feature(
        "description_vague_share",
        "float",
        "share of the description's words that name no goods in particular ('parts', 'goods')",
        "declaration",
        "vague goods description ({value:.0%} generic words)",
        pl.col("_desc_vague_share"),
    ),
    Feature(
        "description_is_vague",
        "bool",
        "at least half of the description's words are generic, or it has none",
        "declaration",
        "vague goods description",
        pl.col("_desc_vague_share") >= 0.5,
    ),
    Feature(
        "description_hs_overlap",
        "float",
        "share of the description's word stems found in its HS-6 nomenclature text "
        "(null for an unknown HS-6)",
        "declaration + reference:hs6",
        "{value:.0%} of the description's words match its HS code's text",
        pl.col("_desc_hs_overlap"),
    ),
    Feature(
        "description_hs_mismatch",
        "bool",
        "no word stem of a specific description appears in its HS-6 nomenclature text",
        "declaration + reference:hs6",
        "goods description does not match the declared HS code",
        (pl.col("_desc_hs_overlap") == 0) & (pl.col("_desc_vague_share") < 0.5),
    ),
)
