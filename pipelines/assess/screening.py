"""Watch-list screening of a pass, answered at once when no party name is near a listed one.

Most calls name no listed party, and for them `screen_declarations` still built its party frame,
took the distinct names and prepared them in Polars (~1 ms of a one-declaration call) before
`features.screening.screen` found that no name scores near a listed one and returned no hit.
Whether a name scores near a listed one is `features.screening.score_name` at the floor `screen`
uses, under the token weights `screen` would set for the same names; both are asked here first,
on the index the pass screens with. When every party name scores nothing the hits are the empty
frame `screen_declarations` returns; otherwise the pass is screened exactly as before.

Grain of the result: one row per (declaration item, party, list entry) hit, as
`pipelines.watchlists.screen.DECLARATION_HIT_SCHEMA`.
"""

from __future__ import annotations

import polars as pl

from features.screening import COUNTRY_BONUS, WatchlistIndex, score_name
from pipelines.settings import Settings
from pipelines.watchlists.screen import DECLARATION_HIT_SCHEMA, ROLES, screen_declarations


def no_name_near_a_listed_one(
    declarations: pl.DataFrame, index: WatchlistIndex, threshold: float
) -> bool:
    """Whether screening `declarations` against `index` at `threshold` can find no hit.

    `screen` sets the token weights over the distinct party names (a null name read as ""),
    then scores each name at `threshold - COUNTRY_BONUS`, the lowest score the country bonus
    can lift to the threshold; a name scoring nothing there cannot hit. Setting the weights
    here leaves the index as `screen` would leave it (the same names, the same weights).
    """
    if index.rows.is_empty() or declarations.height == 0:
        return True
    names: list[str] = []
    for role in ROLES:
        column = declarations.get_column(f"{role}_name").cast(pl.String)
        names.extend(name or "" for name in column.to_list())
    index.set_trade_names(names)
    floor = threshold - COUNTRY_BONUS
    return not any(score_name(index, name, floor) for name in dict.fromkeys(names))


def screen_pass(
    declarations: pl.DataFrame,
    settings: Settings,
    threshold: float,
    index: WatchlistIndex,
    clearances: pl.DataFrame,
) -> pl.DataFrame:
    """`screen_declarations(declarations, settings, threshold, index, clearances)`, with no
    frame built when no party name is near a listed one."""
    if no_name_near_a_listed_one(declarations, index, threshold):
        return pl.DataFrame(schema=DECLARATION_HIT_SCHEMA)
    return screen_declarations(declarations, settings, threshold, index, clearances)
