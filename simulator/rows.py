"""Building blocks shared by normal traffic and threats: times, ids, containers, carriers, lists.

Everything here is vectorised over rows or declarations and draws only from the generator passed in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from contracts.declarations import DECLARATIONS

SEA_CARRIERS = ("MAEU", "MSCU", "CMDU", "COSU", "HLCU", "ONEY", "EGLV", "ZIMU", "YMLU", "HDMU")
AIR_CARRIERS = ("LH", "KL", "EK", "QR", "TK", "CX", "SQ", "CV", "AF", "5X")
POST_CARRIERS = ("UPU",)
COURIER_CARRIERS = ("DHL", "FDX", "UPS", "TNT")
CARRIERS = {"sea": SEA_CARRIERS, "air": AIR_CARRIERS, "post": POST_CARRIERS,
            "courier": COURIER_CARRIERS}  # fmt: skip
# Owner prefixes of container lines and lessors (ISO 6346 owner code + category U).
CONTAINER_OWNERS = ("MSKU", "MSCU", "CMAU", "CSNU", "HLXU", "ONEU", "EGHU", "TGHU", "TCLU", "SEGU")
_LETTER_VALUES = {ch: v for ch, v in zip(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    (10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35,
     36, 37, 38), strict=True)}  # fmt: skip
MICROS_PER_DAY = 86_400_000_000


def day_start_micros(day: date) -> int:
    """Microseconds since the epoch at 00:00 UTC of a day."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def filed_micros(day: date, n: int, rng: np.random.Generator) -> np.ndarray:
    """Filing instants within a UTC day: mostly office hours, some at night; whole seconds."""
    office = rng.random(n) < 0.8
    hours = np.where(office, rng.normal(11.5, 3.0, n), rng.uniform(0, 24, n))
    seconds = np.clip((hours * 3600).astype(np.int64), 0, 86_399)
    return day_start_micros(day) + seconds * 1_000_000


def _owner_sums(owners: tuple[str, ...]) -> np.ndarray:
    return np.array(
        [sum(_LETTER_VALUES[ch] << position for position, ch in enumerate(o)) for o in owners],
        dtype=np.int64,
    )


def check_remainders(owner_sum: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """ISO 6346 weighted sum modulo 11 from the owner code's part and a six-digit serial."""
    total = owner_sum.copy()
    for position in range(6):
        total += (serial // 10 ** (5 - position) % 10) << (position + 4)
    return np.asarray(total % 11)


def container_numbers(count: int, rng: np.random.Generator) -> np.ndarray:
    """Valid ISO 6346 container numbers; serials whose remainder is 10 are avoided (ambiguous)."""
    which = rng.integers(0, len(CONTAINER_OWNERS), count)
    owner_sum = _owner_sums(CONTAINER_OWNERS)[which]
    serial = rng.integers(0, 1_000_000, count)
    # Bumping the last digit by one moves the remainder by 2**9 % 11 = 6, away from 10.
    bump = (serial // 10) * 10 + (serial + 1) % 10
    serial = np.where(check_remainders(owner_sum, serial) == 10, bump, serial)
    digit = check_remainders(owner_sum, serial) % 10
    text = pl.concat_str(
        [
            pl.Series(np.array(CONTAINER_OWNERS))[which],
            pl.Series(serial).cast(pl.String).str.zfill(6),
            pl.Series(digit).cast(pl.String),
        ]
    )
    return pl.select(text).to_series().to_numpy()


def list_series(name: str, values: np.ndarray, lengths: np.ndarray) -> pl.Series:
    """A List(String) series from flat values and per-row lengths; length 0 becomes null."""
    rows = np.repeat(np.arange(lengths.size), lengths)
    grouped = (
        pl.DataFrame({"row": rows, "value": values.astype(str)})
        .group_by("row", maintain_order=True)
        .agg(pl.col("value"))
    )
    every = pl.DataFrame({"row": np.arange(lengths.size)})
    joined = every.join(grouped, on="row", how="left", maintain_order="left")
    return joined["value"].alias(name).cast(pl.List(pl.String()))


def carrier_codes(modes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A carrier per declaration, the big lines more often."""
    out = np.empty(modes.size, dtype=object)
    for mode, options in CARRIERS.items():
        hit = np.flatnonzero(modes == mode)
        weights = 1.0 / np.arange(1, len(options) + 1)
        out[hit] = rng.choice(np.array(options), size=hit.size, p=weights / weights.sum())
    return out


def transit_days(
    modes: np.ndarray, transshipped: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Days from filing to expected arrival by mode (longer with a transshipment)."""
    base = np.select(
        [modes == "sea", modes == "air"],
        [rng.integers(8, 40, modes.size), rng.integers(1, 4, modes.size)],
        rng.integers(2, 8, modes.size),
    )
    return np.asarray(base + np.where(transshipped, rng.integers(1, 6, modes.size), 0))


def contract_frame(columns: dict[str, pl.Series | np.ndarray]) -> pl.DataFrame:
    """Assemble a frame with exactly the declarations contract's columns and types."""
    schema = DECLARATIONS.polars_schema
    series = []
    for name in DECLARATIONS.names:
        value = columns[name]
        if isinstance(value, pl.Series):
            series.append(value.alias(name).cast(schema[name]))
        elif value.dtype == object:
            # Object arrays hold None for missing values; Polars needs them as a Python list.
            series.append(pl.Series(name, value.tolist(), dtype=schema[name]))
        else:
            series.append(pl.Series(name, value, dtype=schema[name]))
    return pl.DataFrame(series)
