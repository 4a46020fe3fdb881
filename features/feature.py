"""What one model feature is: a named Polars expression with a type, a meaning and a phrase.

Grain: one `Feature` describes one column of the features table (one row per declaration item).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from contracts.wording import Readable

Dtype = Literal["float", "int", "bool"]

POLARS_DTYPES: dict[Dtype, pl.DataType] = {
    "float": pl.Float64(),
    "int": pl.Int32(),
    "bool": pl.Boolean(),
}


@dataclass(frozen=True)
class Feature:
    """One model input column.

    `source` names where the value comes from (`declaration`, `history:<entity>`,
    `reference:<table>`); `phrase` is a `str.format` template with `{value}` that turns the
    value into words an inspector reads.
    """

    name: str
    dtype: Dtype
    meaning: str
    source: str
    phrase: str
    expr: pl.Expr = field(compare=False, repr=False)

    def column(self) -> pl.Expr:
        """The expression, cast to the declared type and named."""
        return self.expr.cast(POLARS_DTYPES[self.dtype]).alias(self.name)

    def describe(self, value: float | int | bool | None) -> str:
        """The phrase for one value (an empty string when the value is missing)."""
        if value is None:
            return ""
        # {exp10} undoes a log10 feature, so the reader sees kilograms, not their logarithm.
        exp10 = 10.0 ** float(value) if float(value) < 300 else float("inf")
        # Readable: a small value keeps a digit instead of reading "about 0 items a day".
        shown = value if isinstance(value, bool) else Readable(value)
        return self.phrase.format(value=shown, exp10=Readable(exp10))
