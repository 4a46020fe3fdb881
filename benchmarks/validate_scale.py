"""Validate alone on a day larger than any simulated world: peak memory and time (decision 0038).

Building a simulated 10 M-a-day world takes hours here, so `grow` makes a bigger day from a built
bench world: its night's landing file repeated with the declaration ids suffixed (`-R1`, `-R2`,
...; keys stay unique and amendments stay amendments), cut at `--rows`, into a hard-linked copy
of the world, which it then ingests. `measure` runs the validate stage once on that home (the
volume check off: the day is larger than its history on purpose; a rerun replaces staging and
quarantine whole) and prints one JSON line: wall and CPU seconds, peak RSS (VmHWM), rows.

    python -m benchmarks.validate_scale grow WORLD HOME --rows 10000000
    prlimit --as=12000000000 python -m benchmarks.validate_scale measure HOME
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date
from pathlib import Path

from benchmarks.landing import landing_file, landing_night
from benchmarks.world import link_copy
from pipelines.memory import peak_rss_mb


def grow(world: Path, home: Path, rows: int) -> date:
    """`home`: `world` with its night's landing file grown to `rows` rows, ingested."""
    import polars as pl

    from pipelines import nightly
    from pipelines.settings import load_settings

    meta = json.loads((world / ".bench-world.json").read_text())
    link_copy(world, home)
    landing = home / "landing" / "declarations"
    source = landing_file(home)
    night = landing_night(home)
    grown = landing / f".{source.name}.grown"
    copies = -(-rows // max(meta["rows_per_day"], 1)) + 1
    parts = [
        pl.scan_csv(source, infer_schema=False).with_columns(
            pl.col("declaration_id") + pl.lit(f"-R{copy}" if copy else "")
        )
        for copy in range(copies)
    ]
    pl.concat(parts).head(rows).sink_csv(grown)
    source.unlink()  # a hard link: the world's own file stays as it was
    shutil.move(grown, source)
    nightly.ingest(load_settings(environ={}, home=home), night)
    return night


def measure(home: Path, night: date, chunk_rows: int | None) -> dict[str, float | int]:
    """Validate `night` on `home` once; wall, CPU, peak RSS and rows staged."""
    from pipelines.settings import load_settings
    from pipelines.staging import stage_declarations

    settings = load_settings(environ={}, home=home)
    options = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
    wall, cpu = time.perf_counter(), time.process_time()
    summary = stage_declarations(settings, night, check_volume=False, **options)
    return {
        "wall": round(time.perf_counter() - wall, 2),
        "cpu": round(time.process_time() - cpu, 2),
        "rss_mb": round(peak_rss_mb()),
        "rows_read": summary["rows_read"],
        "rows_staged": summary["rows_staged"],
    }


def main() -> None:
    """`grow` a day or `measure` validate on one."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    grown = verbs.add_parser("grow")
    grown.add_argument("world", type=Path)
    grown.add_argument("home", type=Path)
    grown.add_argument("--rows", type=int, default=10_000_000)
    measured = verbs.add_parser("measure")
    measured.add_argument("home", type=Path)
    measured.add_argument("--night", type=date.fromisoformat, default=None)
    measured.add_argument("--chunk-rows", type=int, default=None)
    args = parser.parse_args()
    if args.verb == "grow":
        print(grow(args.world, args.home, args.rows).isoformat())
        return
    # A world's raw zone also holds a few rows filed ahead (a 1 M world: 1,751 on 2025-01-14).
    night = args.night or landing_night(args.home)
    print(json.dumps(measure(args.home, night, args.chunk_rows)))


if __name__ == "__main__":
    main()
