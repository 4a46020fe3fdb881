"""Nightly-run benchmark: wall time, CPU time and peak RSS per stage at 10 k, 100 k (and 1 M) a day.

Run: `make bench` or `.venv/bin/python -m benchmarks.nightly [--full] [--runs 3]`; two runs'
results side by side: `python -m benchmarks.nightly compare A.json B.json NAME_A NAME_B`.
Grain of the results table: one row per (declarations a day, history days, stage), with the
median over `--runs` runs. Every stage of every run is a fresh Python process on a fresh
hard-linked copy of the prepared home, as an Airflow task would be, so its peak RSS is its own.
The pandas baseline (benchmarks/pandas_baseline.py) runs on the same home in the same run.
Results are printed and written to benchmarks/results/nightly.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines import layout
from pipelines.io import write_text
from pipelines.memory import peak_rss_mb

if TYPE_CHECKING:
    from benchmarks.world import BenchWorld

RESULTS = Path(__file__).parent / "results" / "nightly.md"
STAGES = (
    "ingest",
    "validate",
    "outcomes",
    "featurize",
    "score",
    "rules",
    "screen",
    "select",
    "publish",
)
"""The night's stages in the DAG's order (pipelines/nightly.py)."""
PORT_PREFIX = "port:"
"""`port:<code>`: assess_port for that port, in its own process, as one mapped Airflow task."""
PER_PORT = ("plan_ports", "assess_port", "publish_ports")
"""The per-port night's own stages; `assess_port` is summed over the ports (wall and CPU s)
with the largest port's peak RSS: what one worker needs."""
NIGHTS = ("night_whole", "night")
"""Whole nights in one process: the whole-day stages, and the per-port stage table."""
STAGE_FUNCTIONS = {"outcomes": "import_outcomes"}
"""Stage name -> function of pipelines.nightly, where they differ."""
TRAINING_DAYS = 28
"""History days featurized in the smallest world to train the one model every size scores with."""


@dataclass(frozen=True)
class Measure:
    """One stage of one run: seconds on the wall clock and of CPU, peak resident memory."""

    wall: float
    cpu: float
    rss_mb: float
    rows: int | None = None
    load: float = 0.0
    """The machine's 1-minute load average when the stage ended (2 cores, shared)."""


# --- inside the measured child process ---------------------------------------------------------


def _run_stage(stage: str, home: Path, night: date) -> int | None:
    from pipelines import nightly
    from pipelines.settings import load_settings

    settings = load_settings(environ={}, home=home)
    if stage == "night":
        nightly.run_night(settings, night)
        return None
    if stage == "night_whole":
        nightly.run_night_whole_day(settings, night)
        return None
    if stage in ("plan_ports", "publish_ports"):
        from pipelines import ports

        done: dict[str, Any] = getattr(ports, stage)(settings, night)
        return int(done["rows"]) if isinstance(done.get("rows"), int) else None
    if stage.startswith(PORT_PREFIX):
        from pipelines import ports

        return int(ports.assess_port(settings, night, stage[len(PORT_PREFIX) :])["rows"])
    if stage == "pandas":
        from benchmarks.pandas_baseline import score_night

        return len(score_night(settings, night))
    if stage in ("predict", "explain"):
        return _scoring_only(settings, night, explain=stage == "explain")
    summary: dict[str, Any] = getattr(nightly, STAGE_FUNCTIONS.get(stage, stage))(settings, night)
    rows = summary.get("rows")
    return int(rows) if isinstance(rows, int) else None


def _scoring_only(settings: Any, night: date, *, explain: bool) -> int:
    """Both models over the night's features: raw predictions only, or the full `score`."""
    import polars as pl

    from models.registry import load_version, read_champion, with_compiled_trees
    from models.scoring import feature_matrix, raw_scores, score
    from pipelines.score import compiled_trees_folder, explain_top

    root = settings.zone("models")
    # As the score stage scores: compiled trees (cached at training), reasons for the top rows.
    models = with_compiled_trees(
        load_version(root / read_champion(root)), compiled_trees_folder(settings)
    )
    features = pl.read_parquet(layout.features_file(settings, night))
    started = time.perf_counter()
    if explain:
        score(models, features, explain=explain_top(settings))
    else:
        raw_scores(models, feature_matrix(features, models.feature_names))
    # The child reports the stage's own time; loading is not part of scoring.
    _STAGE_CLOCK["wall"] = time.perf_counter() - started
    return features.height


_STAGE_CLOCK: dict[str, float] = {}


def child_main(stage: str, home: Path, night: date) -> None:
    """Run one stage and print its measure as one JSON line."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = _run_stage(stage, home, night)
    measure = Measure(
        wall=_STAGE_CLOCK.get("wall", time.perf_counter() - wall),
        cpu=time.process_time() - cpu,
        rss_mb=peak_rss_mb(),
        rows=rows,
        load=os.getloadavg()[0],
    )
    print(json.dumps(measure.__dict__))


# --- the driver -------------------------------------------------------------------------------


def measure_in_child(stage: str, home: Path, night: date) -> Measure:
    """Run `stage` in a fresh interpreter and read back its measure."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.nightly", "child", stage, str(home), night.isoformat()],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} on {home} failed:\n{done.stderr[-3000:]}")
    return Measure(**json.loads(done.stdout.strip().splitlines()[-1]))


EXTRAS = ("predict", "explain", "pandas")
"""Measured after the stages, on what they left: scoring alone and the pandas baseline."""


def measure_world(
    world: BenchWorld,
    work: Path,
    runs: int,
    *,
    keep: bool = False,
    extras: tuple[str, ...] = EXTRAS,
    whole_day_stages: bool = True,
    nights: tuple[str, ...] = NIGHTS,
) -> dict[str, list[Measure]]:
    """Every stage, the per-port stages, both whole nights and the `extras`, `runs` times each.

    Without `whole_day_stages` the whole-day stages are not measured one by one (the nights
    are). The homes of the runs are deleted afterwards unless `keep`.
    """
    from benchmarks.world import link_copy

    found: dict[str, list[Measure]] = {}

    def add(stage: str, measure: Measure) -> None:
        found.setdefault(stage, []).append(measure)

    for run in range(runs):
        if whole_day_stages:
            home = link_copy(world.home, work / f"run{run}")
            for stage in STAGES:
                add(stage, measure_in_child(stage, home, world.night))
            # Scoring alone and the baseline read what the stages above left (features, staging).
            for stage in extras:
                add(stage, measure_in_child(stage, home, world.night))
        home = link_copy(world.home, work / f"run{run}")
        for stage in ("ingest", "validate", "outcomes"):
            measured = measure_in_child(stage, home, world.night)
            if not whole_day_stages:
                add(stage, measured)
        for stage, measure in measure_per_port(home, world.night).items():
            add(stage, measure)
        for night in nights:
            home = link_copy(world.home, work / f"run{run}")
            add(night, measure_in_child(night, home, world.night))
    for run in range(runs):
        if not keep:
            shutil.rmtree(work / f"run{run}", ignore_errors=True)
    return found


def measure_per_port(home: Path, night: date) -> dict[str, Measure]:
    """plan_ports, each port's assess_port in its own process, publish_ports, on a home that
    has been validated; `assess_port` sums the ports' seconds and keeps the largest RSS."""
    from pipelines.ports import planned_ports
    from pipelines.settings import load_settings

    found = {"plan_ports": measure_in_child("plan_ports", home, night)}
    ports = planned_ports(load_settings(environ={}, home=home), night)
    each = {port: measure_in_child(f"{PORT_PREFIX}{port}", home, night) for port in ports}
    found["assess_port"] = Measure(
        wall=sum(m.wall for m in each.values()),
        cpu=sum(m.cpu for m in each.values()),
        rss_mb=max(m.rss_mb for m in each.values()),
        rows=sum(m.rows or 0 for m in each.values()),
        load=max(m.load for m in each.values()),
    )
    found.update({f"{PORT_PREFIX}{port}": measure for port, measure in each.items()})
    found["publish_ports"] = measure_in_child("publish_ports", home, night)
    return found


def median(measures: list[Measure], field: Callable[[Measure], float]) -> float:
    """Median of one field over the runs."""
    return statistics.median(field(m) for m in measures)


def machine() -> str:
    """nproc, memory and CPU model, in one line."""
    cpu = "unknown CPU"
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB memory, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def table(results: dict[tuple[int, int], dict[str, list[Measure]]]) -> str:
    """The Markdown table of medians, with rows/s and the pandas ratio per world."""
    lines = [
        "| rows/day | history days | stage | wall s | CPU s | peak RSS MB | rows/s (wall) | load |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (rows, days), stages in sorted(results.items()):
        port_stages = sorted(s for s in stages if s.startswith(PORT_PREFIX))
        order = (*STAGES, *PER_PORT, *port_stages, *NIGHTS, "predict", "explain", "pandas")
        for stage in order:
            if stage not in stages:
                continue
            wall = median(stages[stage], lambda m: m.wall)
            label = {
                "night_whole": "**whole night, whole-day stages**",
                "night": "**whole night, per port**",
                "assess_port": "assess_port, all ports (s summed, RSS of the largest)",
                "predict": "scoring only: both models, predict",
                "explain": "scoring only: both models, predict + reasons",
                "pandas": "pandas baseline: features + scoring",
            }.get(stage, stage)
            lines.append(
                f"| {rows:,} | {days} | {label} | {wall:.2f} | "
                f"{median(stages[stage], lambda m: m.cpu):.2f} | "
                f"{median(stages[stage], lambda m: m.rss_mb):,.0f} | {rows / wall:,.0f} | "
                f"{max(m.load for m in stages[stage]):.1f} |"
            )
    return "\n".join(lines)


def ratios(results: dict[tuple[int, int], dict[str, list[Measure]]]) -> str:
    """The pandas baseline against the stack on the same work, per world (median wall times).

    Like for like is featurize + scoring with reasons (the baseline screens no watch list and
    runs no rules); the score stage, which also does those, is shown beside it.
    """
    lines = [
        "| rows/day | history days | featurize + scoring s | pandas baseline s | ratio "
        "| featurize + score stage s | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (rows, days), stages in sorted(results.items()):
        if "pandas" not in stages:
            continue
        featurize = median(stages["featurize"], lambda m: m.wall)
        scoring = featurize + median(stages.get("explain", stages["score"]), lambda m: m.wall)
        stage = featurize + median(stages["score"], lambda m: m.wall)
        theirs = median(stages["pandas"], lambda m: m.wall)
        lines.append(
            f"| {rows:,} | {days} | {scoring:.2f} | {theirs:.2f} | {theirs / scoring:.1f}x "
            f"| {stage:.2f} | {theirs / stage:.1f}x |"
        )
    return "\n".join(lines)


SCORING_TARGET_ROWS_PER_S = 500_000
NIGHT_TARGET_S, NIGHT_TARGET_MB, PANDAS_TARGET_RATIO = 30.0, 4096.0, 10.0
"""Issue 8's targets on a 2-core machine: the 1 M-a-day night in 30 s and 4 GB, 10x pandas."""
BIG_NIGHT_TARGET_S, BIG_NIGHT_TARGET_MB = 150.0, 6144.0
"""Issue 19's: 10 M a day in 150 s and 6 GB."""


def targets(results: dict[tuple[int, int], dict[str, list[Measure]]]) -> str:
    """Each of issue 8's targets against what this run measured (median wall times)."""
    lines = ["| target | world | measured | met |", "|---|---|---|---|"]

    def row(target: str, world: str, measured: str, met: bool) -> None:
        lines.append(f"| {target} | {world} | {measured} | {'yes' if met else '**no**'} |")

    for (rows, days), stages in sorted(results.items()):
        name = f"{rows:,} x {days} d"
        if rows == 1_000_000 and "night" in stages:
            wall = median(stages["night"], lambda m: m.wall)
            rss = median(stages["night"], lambda m: m.rss_mb)
            row("1 M a day: night <= 30 s", name, f"{wall:.1f} s", wall <= NIGHT_TARGET_S)
            row("1 M a day: peak RSS <= 4 GB", name, f"{rss:,.0f} MB", rss <= NIGHT_TARGET_MB)
        if rows >= 10_000_000 and "night" in stages:
            wall = median(stages["night"], lambda m: m.wall)
            rss = median(stages["night"], lambda m: m.rss_mb)
            row("10 M a day: night <= 150 s", name, f"{wall:.1f} s", wall <= BIG_NIGHT_TARGET_S)
            row("10 M a day: peak RSS <= 6 GB", name, f"{rss:,.0f} MB", rss <= BIG_NIGHT_TARGET_MB)
        if "pandas" in stages and "featurize" in stages:
            ours = median(stages["featurize"], lambda m: m.wall) + median(
                stages.get("explain", stages["score"]), lambda m: m.wall
            )
            ratio = median(stages["pandas"], lambda m: m.wall) / ours
            row(">= 10x the pandas baseline", name, f"{ratio:.1f}x", ratio >= PANDAS_TARGET_RATIO)
        if "predict" in stages:
            speed = rows / median(stages["predict"], lambda m: m.wall)
            row(
                "scoring >= 500 k rows/s, both models",
                name,
                f"{speed:,.0f} rows/s",
                speed >= SCORING_TARGET_ROWS_PER_S,
            )
    sizes = sorted({rows for rows, _ in results})
    for rows in sizes:
        nights = {d: s["night"] for (r, d), s in results.items() if r == rows and "night" in s}
        if len(nights) < 2:
            continue
        short, long = min(nights), max(nights)
        growth = median(nights[long], lambda m: m.cpu) / median(nights[short], lambda m: m.cpu)
        row(
            "night's cost flat in history",
            f"{rows:,}: {short} vs {long} d",
            f"{growth:.2f}x the CPU s",
            growth <= 1.25,
        )
    return "\n".join(lines)


def model_line(home: Path) -> str:
    """The champion that every world is scored with: trees per category, and how it predicts."""
    from models.registry import read_champion

    models = home / "models"
    version = models / read_champion(models)
    trees = {
        path.stem: path.read_text(encoding="utf-8").count("\nTree=")
        for path in sorted(version.glob("*.txt"))
    }
    counts = ", ".join(f"{name} {count} trees" for name, count in trees.items())
    return f"Model: one champion for every world, trained on the training world ({counts})."


def report(
    results: dict[tuple[int, int], dict[str, list[Measure]]],
    runs: int,
    command: str,
    model: str = "",
) -> str:
    """The whole results file."""
    return "\n\n".join(
        [
            "# Nightly-run benchmark",
            "## Against the targets of issue 8",
            targets(results),
            f"Command: `{command}`  \n{model}  \nMachine: {machine()}; load average "
            f"{os.getloadavg()[0]:.1f} at the end; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Medians of {runs} runs; "
            "each stage is a fresh process on a fresh copy of the prepared home (times exclude "
            "interpreter start, include the stage's own imports; peak RSS is the process's). "
            "The machine was shared with other work: CPU seconds are the steadier measure.",
            "## Stages",
            table(results),
            *(
                ["## Against the pandas baseline (same data, same model)", ratios(results)]
                if any("pandas" in stages for stages in results.values())
                else []
            ),
        ]
    )


def side_by_side(before: dict[str, Any], after: dict[str, Any], names: tuple[str, str]) -> str:
    """Two runs' JSON results (`--out` X.json) as one table: every stage both measured, per size.

    Grain: one row per (declarations a day, history days, stage); medians of each run's runs.
    """
    lines = [
        f"| rows/day | history days | stage | wall s {names[0]} | wall s {names[1]} "
        f"| CPU s {names[0]} | CPU s {names[1]} | peak RSS MB {names[0]} "
        f"| peak RSS MB {names[1]} |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for world in sorted(set(before) & set(after), key=lambda w: tuple(map(int, w.split("x")))):
        rows, days = (int(part) for part in world.split("x"))
        ours, theirs = before[world], after[world]
        for stage in [s for s in ours if s in theirs and not s.startswith(PORT_PREFIX)]:
            one = [Measure(**m) for m in ours[stage]]
            two = [Measure(**m) for m in theirs[stage]]
            cells = [
                f"{median(one, field):{form}} | {median(two, field):{form}}"
                for field, form in (
                    (lambda m: m.wall, ".1f"),
                    (lambda m: m.cpu, ".1f"),
                    (lambda m: m.rss_mb, ",.0f"),
                )
            ]
            lines.append(f"| {rows:,} | {days} | {stage} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Build the worlds, measure them, print and write the report."""
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["child"]:
        child_main(args_in[1], Path(args_in[2]), date.fromisoformat(args_in[3]))
        return
    if args_in[:1] == ["compare"]:
        # compare BEFORE.json AFTER.json NAME_BEFORE NAME_AFTER: one table of both runs.
        before, after = (json.loads(Path(a).read_text()) for a in args_in[1:3])
        print(side_by_side(before, after, (args_in[3], args_in[4])))
        return
    # The world builder imports the simulator and training: the measured children must not.
    from benchmarks.world import (
        THREAT_RATE,
        build_bench_world,
        install_model,
        train_bench_model,
    )

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--history", type=int, nargs="+", default=[90, 365])
    parser.add_argument("--full", action="store_true", help="add 1 M a day (see --full-history)")
    parser.add_argument("--full-history", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--training-days", type=int, default=TRAINING_DAYS)
    parser.add_argument(
        "--training-rows", type=int, default=None, help="rows a day, training world"
    )
    parser.add_argument("--threat-rate", type=float, default=THREAT_RATE)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "cargo-risk-bench"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--nights", nargs="*", default=list(NIGHTS), choices=NIGHTS,
        help="whole nights to measure in one process (default: both)",
    )  # fmt: skip
    parser.add_argument(
        "--nights-only",
        action="store_true",
        help="skip the whole-day stages one by one and the extras (the nights and per-port "
        "stages are measured); for the largest days",
    )
    parser.add_argument("--keep", action="store_true", help="keep the homes of the runs")
    parser.add_argument(
        "--pandas-max-rows",
        type=int,
        default=100_000,
        help="largest world the pandas baseline runs on (it took 14 GB at 100 k x 365 days)",
    )
    parser.add_argument(
        "--reuse-worlds",
        action="store_true",
        help="reuse (and keep) worlds built before in --work with the same parameters",
    )
    parser.add_argument(
        "--extras", nargs="*", default=list(EXTRAS), choices=EXTRAS,
        help="what to measure beside the stages and the night (default: all)",
    )  # fmt: skip
    args = parser.parse_args(args_in)

    plan = [(rows, days) for rows in args.sizes for days in args.history]
    if args.full:
        plan.append((1_000_000, args.full_history))
    started = time.perf_counter()
    trainer = build_bench_world(
        args.work / "train",
        args.training_rows or min(args.sizes),
        args.training_days + 2,
        featurize_last=args.training_days,
        threat_rate=args.threat_rate,
        reuse=args.reuse_worlds,
    )
    train_bench_model(trainer)
    print(f"model trained in {time.perf_counter() - started:.0f} s", flush=True)
    results: dict[tuple[int, int], dict[str, list[Measure]]] = {}
    for rows, days in plan:
        built = time.perf_counter()
        world = build_bench_world(
            args.work / f"w{rows}-{days}",
            rows,
            days,
            threat_rate=args.threat_rate,
            reuse=args.reuse_worlds,
        )
        install_model(trainer, world)
        print(
            f"{rows:,}/day, {days} days: built in {time.perf_counter() - built:.0f} s", flush=True
        )
        extras = tuple(e for e in args.extras if e != "pandas" or rows <= args.pandas_max_rows)
        results[(rows, days)] = measure_world(
            world,
            args.work / "runs",
            args.runs,
            keep=args.keep,
            extras=() if args.nights_only else extras,
            whole_day_stages=not args.nights_only,
            nights=tuple(args.nights),
        )
        if not (args.keep or args.reuse_worlds):
            shutil.rmtree(world.home, ignore_errors=True)
        print(table({(rows, days): results[(rows, days)]}), flush=True)
    command = "python -m benchmarks.nightly " + " ".join(args_in)
    text = report(results, args.runs, command.strip(), model_line(trainer.home))
    write_text(text + "\n", args.out)
    raw = {f"{rows}x{days}": {k: [m.__dict__ for m in v] for k, v in stages.items()}
           for (rows, days), stages in results.items()}  # fmt: skip
    write_text(json.dumps(raw, indent=1) + "\n", args.out.with_suffix(".json"))
    print(text)


if __name__ == "__main__":
    main()
