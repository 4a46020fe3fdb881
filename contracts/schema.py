"""How a contract is written down: columns with a type, a requirement and a rule.

One definition drives everything that touches an edge table: the reader's casts, the Great
Expectations suites (expectations/), the docs (`docs/contracts.md`) and the writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

Kind = Literal["string", "integer", "decimal", "timestamp", "date", "list", "boolean"]
ReferenceSet = Literal["locode", "hs6", "country", "currency"]

POLARS_TYPES: dict[Kind, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "decimal": pl.Float64(),
    "timestamp": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
    "list": pl.List(pl.String()),
    "boolean": pl.Boolean(),
}


@dataclass(frozen=True)
class Column:
    """One column of a contract and the rule its values follow."""

    name: str
    kind: Kind
    required: bool
    rule: str = ""
    pattern: str | None = None
    """Regex every non-null value (every element, for lists) must match in full."""
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    minimum_exclusive: bool = False
    maximum: float | None = None
    """Largest value: what later stages can hold (integer widths, finite ratios)."""
    min_length: int | None = None
    max_length: int | None = None
    reference: ReferenceSet | None = None
    """Reference set the value (each element, for lists) must belong to."""

    @property
    def dtype(self) -> pl.DataType:
        """The Polars type the column has once read."""
        return POLARS_TYPES[self.kind]


@dataclass(frozen=True)
class Contract:
    """A table at the project's edge: its grain, key and columns."""

    name: str
    version: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    list_separator: str = "|"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of the required columns."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        """The column called `name` (KeyError when the contract has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} contract has no column {name!r}")

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        """Column name -> Polars type, in contract order."""
        return {c.name: c.dtype for c in self.columns}

    def empty_frame(self) -> pl.DataFrame:
        """A frame with the contract's columns and types and no rows."""
        return pl.DataFrame(schema=self.polars_schema)
