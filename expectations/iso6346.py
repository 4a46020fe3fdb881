"""ISO 6346 container numbers: owner code, category, serial number and check digit.

Pure Polars expressions, so the check runs vectorised before Great Expectations sees a boolean.
"""

from __future__ import annotations

import string

import polars as pl

from contracts.declarations import CONTAINER_PATTERN


def _letter_values() -> dict[str, int]:
    # Letters count from 10 upwards, skipping multiples of 11 (11, 22, 33) as the standard says.
    values: dict[str, int] = {}
    value = 10
    for letter in string.ascii_uppercase:
        if value % 11 == 0:
            value += 1
        values[letter] = value
        value += 1
    return values


CHARACTER_VALUES: dict[str, int] = {**_letter_values(), **{d: int(d) for d in string.digits}}


def check_digit(number: str) -> int:
    """The ISO 6346 check digit of the first ten characters of `number` (plain Python)."""
    total = sum(CHARACTER_VALUES[char] << position for position, char in enumerate(number[:10]))
    return total % 11 % 10


def container_number_valid(number: pl.Expr) -> pl.Expr:
    """True where `number` has the ISO 6346 shape and a correct check digit; null stays null."""
    weighted = [
        number.str.slice(position, 1).replace_strict(
            CHARACTER_VALUES, default=None, return_dtype=pl.Int64()
        )
        * 2**position
        for position in range(10)
    ]
    expected = pl.sum_horizontal(weighted) % 11 % 10
    given = number.str.slice(10, 1).cast(pl.Int64(), strict=False)
    shaped = number.str.contains(CONTAINER_PATTERN)
    return pl.when(number.is_null()).then(None).otherwise(shaped & (expected == given))
