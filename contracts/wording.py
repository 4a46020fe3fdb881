"""Numbers in reasons that read right: a small value is never shown as a bare 0.

Reason templates carry a format spec chosen for typical values ("{value:.0f} items a day",
"{value:.0%} of the description"); for a value that is not zero but rounds to zero under that
spec, the template would state a falsehood ("about 0 items a day" for 0.3). `Readable` keeps the
spec for ordinary values and shows small ones with one significant digit instead.
"""

from __future__ import annotations

import math
import re

_FIXED = re.compile(r"^(?P<head>[^.]*)\.(?P<digits>\d+)(?P<kind>[f%])$")
MAX_DIGITS = 4
"""Beyond this many decimals a value is shown as under its last digit ("under 0.0001")."""


class Readable(float):
    """A float whose fixed-point and percent formats never round a non-zero value to zero."""

    def __format__(self, spec: str) -> str:
        match = _FIXED.match(spec)
        value = float(self)
        if not match or value == 0 or not math.isfinite(value):
            return format(value, spec)
        digits = int(match["digits"])
        kind = match["kind"]
        shown = abs(value) * (100 if kind == "%" else 1)
        if float(format(shown, f".{digits}f")) != 0:
            return format(value, spec)
        # One significant digit, as few decimals as that takes.
        needed = min(MAX_DIGITS, max(digits, -math.floor(math.log10(shown))))
        suffix = "%" if kind == "%" else ""
        if float(format(shown, f".{needed}f")) == 0:
            return f"under {10.0**-needed:.{needed}f}{suffix}"
        sign = "-" if value < 0 else ""
        return f"{sign}{shown:.{needed}f}{suffix}"
