"""Reference tables cut down to the keys a call carries, for `features.build.build_features`.

The features join a call's rows to the LOCODE table (~115 k rows) for route distances and to
the HS6 table (~5.6 k rows, every description stemmed on each build) for the description
overlap: on one row that was about half of building its features. A left join on a key finds
exactly the rows of the table holding that key, so the table filtered to the call's keys gives
the same rows, in the same order, and so the same features (tests/test_assess_service.py checks
the scores bit for bit and the features frame for frame).

`ReferenceIndex` finds those rows without scanning the tables: it maps each key to its row
positions once a generation, and a call takes the rows at the sorted positions of its keys (the
rows `call_references` filters, in table order).

Grain: the rows of each reference table whose key occurs among the call's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from features.history import entity_keys
from features.refs import References

_PORTS = "_asked_ports"
_HS6 = "_asked_hs6"
ASKED = (
    pl.concat_list(
        pl.col("port_of_loading"),
        pl.col("port_of_discharge"),
        pl.col("transshipment_ports").fill_null(pl.lit([], pl.List(pl.String))),
    )
    .explode()
    .drop_nulls()
    .unique()
    .implode()
    .alias(_PORTS),
    pl.col("hs6").drop_nulls().unique().implode().alias(_HS6),
)
"""The ports and the hs6 headings (as the features compute them) rows carry, as one-row lists,
over rows carrying the entity keys (`features.history.entity_keys`); built once."""


def _asked(declarations: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The ports and the hs6 headings (as the features compute them) the rows carry."""
    asked = entity_keys(declarations.lazy()).select(ASKED).collect()
    return _lists(asked[_PORTS][0], asked[_HS6][0])


def _lists(ports: pl.Series, hs6: pl.Series) -> tuple[list[str], list[str]]:
    """The values of the two asked lists (each one row's list, as a Series)."""
    return ports.drop_nulls().to_list(), hs6.drop_nulls().to_list()


def call_references(refs: References, declarations: pl.DataFrame) -> References:
    """`refs` with locations cut to the call's ports and hs6 to the call's HS6 headings; the
    small tables (strategic prefixes, currency rates) are kept whole."""
    ports, hs6 = _asked(declarations)
    return References(
        refs.locations.filter(pl.col("locode").cast(pl.String).is_in(ports)),
        refs.hs6.filter(pl.col("hs6").cast(pl.String).is_in(hs6)),
        refs.strategic_hs,
        refs.currency_rates,
    )


def _positions(keys: pl.Series) -> dict[str, list[int]]:
    at: dict[str, list[int]] = {}
    for position, key in enumerate(keys.cast(pl.String).to_list()):
        if key is not None:
            at.setdefault(key, []).append(position)
    return at


def _rows(table: pl.DataFrame, at: dict[str, list[int]], keys: Iterable[str]) -> pl.DataFrame:
    taken = sorted({p for key in keys for p in at.get(key, ())})
    return table[taken] if taken else table.clear()


class ReferenceIndex:
    """`call_references` with the tables' keys mapped to row positions once (per refresh)."""

    def __init__(self, refs: References) -> None:
        self.refs = refs
        self._locations = _positions(refs.locations.get_column("locode"))
        self._hs6 = _positions(refs.hs6.get_column("hs6"))

    def cut(
        self, declarations: pl.DataFrame, keys: Mapping[str, pl.Series] | None = None
    ) -> References:
        """The References `call_references(self.refs, declarations)` returns. `keys`: the
        values of the lists `ASKED` names for `declarations`, when the caller has them already
        (the service asks them with the history's spans, `HistoryIndex.spans`)."""
        ports, hs6 = _asked(declarations) if keys is None else _lists(keys[_PORTS], keys[_HS6])
        return References(
            _rows(self.refs.locations, self._locations, ports),
            _rows(self.refs.hs6, self._hs6, hs6),
            self.refs.strategic_hs,
            self.refs.currency_rates,
        )
