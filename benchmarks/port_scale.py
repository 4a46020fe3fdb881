"""One port's `assess_port` alone on a grown day: wall, CPU, peak memory (decision 0033, addendum).

On a home `benchmarks.validate_scale grow` made (its night ingested), `prepare` validates the
night (the volume check off: the day is larger than its history on purpose) and runs
`plan_ports`; `measure`, in a fresh interpreter, assesses one port (default: the day's largest)
and prints one JSON line: wall and CPU seconds, peak RSS (VmHWM), rows, the load average, and the
port's step seconds and (where the code records them) each step's peak RSS.

    python -m benchmarks.validate_scale grow WORLD HOME --rows 3000000
    python -m benchmarks.port_scale prepare HOME
    nice python -m benchmarks.port_scale measure HOME [--port NLRTM] [--chunk-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.landing import landing_night
from pipelines.memory import peak_rss_mb


def prepare(home: Path) -> dict[str, Any]:
    """Validate the grown night and plan its ports; the plan's summary."""
    from pipelines import ports
    from pipelines.settings import load_settings
    from pipelines.staging import stage_declarations

    settings = load_settings(environ={}, home=home)
    night = landing_night(home)
    stage_declarations(settings, night, check_volume=False)
    plan: dict[str, Any] = ports.plan_ports(settings, night)
    return plan


def measure(home: Path, port: str | None, chunk_rows: int | None) -> dict[str, Any]:
    """Assess `port` (default: the largest) once in this process; its measure."""
    from pipelines import layout, ports
    from pipelines.settings import load_settings

    settings = load_settings(environ={}, home=home)
    night = landing_night(home)
    if port is None:
        plan = json.loads((layout.run_report_dir(settings, night) / "plan_ports.json").read_text())
        port = max(plan["rows_per_port"], key=plan["rows_per_port"].get)
    # The code before chunking has no `chunk_rows`: passed only when asked for.
    options: dict[str, Any] = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
    wall, cpu = time.perf_counter(), time.process_time()
    summary = ports.assess_port(settings, night, port, **options)
    return {
        "port": port,
        "wall": round(time.perf_counter() - wall, 2),
        "cpu": round(time.process_time() - cpu, 2),
        "rss_mb": round(peak_rss_mb()),
        "rows": summary["rows"],
        "load": round(os.getloadavg()[0], 2),
        "chunks": summary.get("chunks", 1),
        "step_seconds": summary["step_seconds"],
        "step_peak_rss_mb": summary.get("step_peak_rss_mb", {}),
    }


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    prepared = verbs.add_parser("prepare", help="validate the grown night and plan its ports")
    prepared.add_argument("home", type=Path)
    measured = verbs.add_parser("measure", help="assess one port in this process, measured")
    measured.add_argument("home", type=Path)
    measured.add_argument("--port", default=None)
    measured.add_argument("--chunk-rows", type=int, default=None)
    args = parser.parse_args()
    if args.verb == "prepare":
        plan = prepare(args.home)
        print(json.dumps({"rows": plan["rows"], "rows_per_port": plan["rows_per_port"]}))
    else:
        print(json.dumps(measure(args.home, args.port, args.chunk_rows)))


if __name__ == "__main__":
    main()
