"""The night on Airflow's Celery workers at a bench world's volume: per-worker figures (issue 19).

    python -m benchmarks.celery_night WORLD --work DIR [--workers 2] [--out FILE]

Needs PostgreSQL and Redis (`scripts/services.sh start`). WORLD is a bench world built by
`benchmarks.nightly` (for example `W/w1000000-3`, a million declarations a day); it is copied
with hard links to `DIR/home` and the night of its landing file runs there through the nightly
DAG on a scheduler and `--workers` Celery workers (`pipelines.celery_night`, one task at a time
each). Prints, and writes to `--out`: the run's wall seconds (first task start to last task
end, and with Airflow's set-up), per worker the tasks it ran, their seconds, and the CPU seconds
and largest peak RSS of the worker with every task process under it; then each task's seconds
and worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

from benchmarks.landing import landing_night
from benchmarks.world import bench_settings, link_copy
from pipelines.celery_night import CeleryNight, Services, run_night_on_celery

RESULTS = Path(__file__).parent / "results" / "celery-night.md"


def report(night: CeleryNight, day: date, world: Path) -> str:
    """The run as Markdown: the night, each worker, each task."""
    timed = [t for t in night.tasks if t.seconds > 0]
    busy: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for task in timed:
        busy[task.worker] += task.seconds
        count[task.worker] += 1
    load = os.getloadavg()
    starts = [t.started for t in night.tasks if t.started is not None]
    ends = [t.ended for t in night.tasks if t.ended is not None]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    lines = [
        f"Night {day} of {world} on Airflow's CeleryExecutor, {len(night.usage_by_worker)} "
        f"workers ({os.cpu_count()} cores, load after {load[0]:.1f}): **{night.state}**, "
        f"{span:.0f} s from the first task's start to the last task's end, {night.seconds:.0f} s "
        "with Airflow's set-up (database migration, processes).",
        "",
        "| worker | tasks | task seconds, summed | CPU s (worker and its task processes) | "
        "largest peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for worker, usage in sorted(night.usage_by_worker.items()):
        lines.append(
            f"| {worker} | {count[worker]} | {busy[worker]:.1f} | {usage.cpu_seconds:.1f} | "
            f"{usage.peak_rss_mb:,.0f} MB |"
        )
    if count.get(""):
        lines.append(f"| (no worker log named it) | {count['']} | {busy['']:.1f} | | |")
    lines += ["", "| task | map index | state | seconds | worker |", "|---|---:|---|---:|---|"]
    lines += [
        f"| {t.task_id} | {t.map_index if t.map_index >= 0 else ''} | {t.state} | "
        f"{t.seconds:.1f} | {t.worker} |"
        for t in night.tasks
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("world", type=Path, help="a bench world (benchmarks.nightly --work)")
    parser.add_argument("--work", type=Path, required=True, help="where the copy and logs go")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    services = Services.from_script()
    missing = services.available()
    if missing:
        parser.exit(2, f"{missing}: run `scripts/services.sh start` (as root) first\n")
    home = args.work / "home"
    if home.exists():
        shutil.rmtree(home)
    link_copy(args.world, home)
    day = landing_night(home)
    night = run_night_on_celery(
        bench_settings(home),
        day,
        services,
        args.work / "logs",
        workers=args.workers,
        timeout_seconds=args.timeout,
    )
    text = report(night, day, args.world)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0 if night.state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
