"""Time one synthetic day: `python -m simulator.bench --rows 1000000`.

Prints the world build time, the day's generation time and its rows per second (no files).
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np

from simulator.day import generate_day
from simulator.world import build_world


def main(argv: list[str] | None = None) -> None:
    """Build a world, generate one day of `--rows` rows and report the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    world = build_world(args.seed, date(2026, 1, 1), 365)
    built = time.perf_counter()
    frame, truth = generate_day(world, date(2026, 3, 3), args.rows, np.random.default_rng(1))
    done = time.perf_counter()
    print(f"world built in {built - started:.1f} s")
    print(
        f"{frame.height:,} rows ({truth.height} threat items) in {done - built:.1f} s: "
        f"{frame.height / (done - built):,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
