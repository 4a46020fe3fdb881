"""Strategic-goods features: HS codes on the strategic list and UN dangerous-goods classes.

Grain: expressions over one row per declaration item, after `_threat` (the strategic-list
threat of the item's longest matching HS prefix) has been added by `strategic_threat`.
"""

from __future__ import annotations

import polars as pl

from contracts import threats
from contracts.reference import THREATS
from features.feature import Feature

THREAT_CODES: dict[str, int] = {threat: code for code, threat in enumerate(THREATS, start=1)}
"""Stable integer codes (0 = not listed), fixed by the order of `contracts.reference.THREATS`."""

# UN numbers by dangerous-goods class, from the UN Model Regulations' numbering: 0001-0999 are
# all class 1 (explosives); the others are the class 7 (radioactive) and 6.2 (infectious)
# entries and the class 2.3 / 6.1 toxic chemicals of weapons concern. Any other number is
# reported as "other" rather than guessed.
UN_EXPLOSIVES_MAX = 999
UN_RADIOACTIVE = (
    2908,
    2909,
    2910,
    2911,
    2912,
    2913,
    2915,
    2916,
    2917,
    2919,
    2977,
    2978,
    *range(3321, 3334),
)
UN_INFECTIOUS = (2814, 2900, 3291, 3373, 3549)
UN_TOXIC = (
    1017,
    1026,
    1051,
    1067,
    1076,
    1092,
    1135,
    1238,
    1239,
    1560,
    1613,
    1614,
    1680,
    1689,
    1809,
    2199,
    2202,
    2810,
    2811,
    2927,
    2928,
    3462,
    3467,
)
UN_CLASS_CODES = {
    "none": 0,
    "explosive": 1,
    "toxic": 6,
    "infectious": 62,
    "radioactive": 7,
    "other": 99,
}


def strategic_threat(hs_code: pl.Expr, strategic_hs: pl.DataFrame) -> pl.Expr:
    """Threat of the longest strategic-list prefix the HS code starts with (null when none)."""
    table = strategic_hs.select(pl.col("hs_prefix").cast(pl.String), pl.col("threat"))
    lengths = sorted(set(table["hs_prefix"].str.len_chars().to_list()), reverse=True)
    # One lookup per prefix length, longest first: a handful of replace_strict calls, no joins.
    lookups = [
        hs_code.str.slice(0, length).replace_strict(
            dict(zip(sub["hs_prefix"], sub["threat"], strict=True)),
            default=None,
            return_dtype=pl.String,
        )
        for length in lengths
        if (sub := table.filter(pl.col("hs_prefix").str.len_chars() == length)).height
    ]
    if not lookups:
        return pl.lit(None, pl.String)
    return pl.coalesce(lookups)


def un_class_code() -> pl.Expr:
    """Dangerous-goods class code of `un_number` (see `UN_CLASS_CODES`)."""
    number = pl.col("un_number").cast(pl.Int32, strict=False)
    return (
        pl.when(pl.col("un_number").is_null())
        .then(UN_CLASS_CODES["none"])
        .when(number <= UN_EXPLOSIVES_MAX)
        .then(UN_CLASS_CODES["explosive"])
        .when(number.is_in(UN_RADIOACTIVE))
        .then(UN_CLASS_CODES["radioactive"])
        .when(number.is_in(UN_INFECTIOUS))
        .then(UN_CLASS_CODES["infectious"])
        .when(number.is_in(UN_TOXIC))
        .then(UN_CLASS_CODES["toxic"])
        .otherwise(UN_CLASS_CODES["other"])
    )


def _threat_is(threat: str) -> pl.Expr:
    return (pl.col("_threat") == threat).fill_null(False)


FEATURES: tuple[Feature, ...] = (
    Feature(
        "strategic_threat_code",
        "int",
        "strategic-list threat of the HS code: "
        + ", ".join(f"{c} {t}" for t, c in THREAT_CODES.items())
        + ", 0 not listed",
        "reference:strategic_hs",
        "HS code on the strategic goods list",
        pl.col("_threat").replace_strict(THREAT_CODES, default=0, return_dtype=pl.Int32),
    ),
    *(
        Feature(
            t.hs_feature,
            "bool",
            t.hs_meaning,
            "reference:strategic_hs",
            t.hs_phrase,
            _threat_is(t.strategic_class),
        )
        for t in threats.THREATS
    ),
    Feature(
        "un_class_code",
        "int",
        "UN dangerous-goods class: " + ", ".join(f"{c} {n}" for n, c in UN_CLASS_CODES.items()),
        "declaration",
        "dangerous goods declared (UN class code {value:.0f})",
        un_class_code(),
    ),
    Feature(
        "has_un_number",
        "bool",
        "a UN dangerous-goods number is declared",
        "declaration",
        "dangerous goods declared",
        pl.col("un_number").is_not_null(),
    ),
)
